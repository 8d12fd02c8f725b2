package fleet

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

type metrics struct {
	reg        *prometheus.Registry
	decisions  *prometheus.CounterVec
	mqttDenied *prometheus.CounterVec
	samples    prometheus.Counter
	batch      prometheus.Histogram
	api        *prometheus.CounterVec
	// Per-source limits of the HTTPS listeners, by listener.
	refusedConn *prometheus.CounterVec
	rateLimited *prometheus.CounterVec

	compactSamples prometheus.Counter
	compactPass    prometheus.Histogram
	compactWrite   prometheus.Histogram
	pending        prometheus.Gauge

	// Running totals the console turns into rates (issued certificates,
	// stored telemetry samples).
	issuedTotal, samplesTotal atomic.Int64
}

func newMetrics(connected func() float64) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_enrollment_decisions_total", Help: "Enrollment and renewal decisions by action and refusal code (empty code = issued)."}, []string{"action", "code"})
	m.mqttDenied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_mqtt_denied_total", Help: "Refused MQTT connections, publishes and subscriptions."}, []string{"action"})
	m.samples = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_telemetry_samples_stored_total", Help: "Telemetry samples committed to the store."})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rampart_telemetry_batch_seconds", Help: "Time to commit one telemetry batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.api = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_api_requests_total", Help: "Admin API requests by route and status."}, []string{"route", "status"})
	m.refusedConn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_http_connections_refused_total", Help: "HTTPS connections closed at accept for being over the listener's per-source or total connection cap."}, []string{"listener"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_http_rate_limited_total", Help: "HTTPS requests answered 429 because their source spent its failure budget."}, []string{"listener"})
	m.compactSamples = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_telemetry_compacted_samples_total", Help: "Telemetry samples moved from pending batches into per-series chunks."})
	m.compactPass = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rampart_telemetry_compaction_pass_seconds", Help: "Duration of one telemetry compaction pass that moved samples (planning and write transaction).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	// On SQLite the write transaction holds the only write lock: its
	// duration is about the longest an ingest commit waits for compaction.
	m.compactWrite = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rampart_telemetry_compaction_write_seconds", Help: "Duration of the write transaction of one telemetry compaction pass (on SQLite: how long it held the write lock).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_telemetry_pending_batches", Help: "Telemetry batches not yet compacted, as left by the last compaction pass."})
	m.reg.MustRegister(m.decisions, m.mqttDenied, m.samples, m.batch, m.api, m.refusedConn, m.rateLimited, m.compactSamples, m.compactPass, m.compactWrite, m.pending,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rampart_mqtt_connected_devices", Help: "Devices connected to the MQTT broker."}, connected),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) decision(action string, code deviceproto.Code) {
	m.decisions.WithLabelValues(action, string(code)).Inc()
	if code == "" {
		m.issuedTotal.Add(1)
	}
}

func (m *metrics) committed(n int, took time.Duration) {
	m.samples.Add(float64(n))
	m.samplesTotal.Add(int64(n))
	m.batch.Observe(took.Seconds())
}

// compacted is telemetry.CompactConfig.OnCompact. Passes that found
// nothing to move are left out of the histogram: they take no time worth
// seeing and would hide the passes that do.
func (m *metrics) compacted(r store.CompactResult, took time.Duration) {
	m.compactSamples.Add(float64(r.Samples))
	if r.Batches > 0 {
		m.compactPass.Observe(took.Seconds())
		m.compactWrite.Observe(r.Write.Seconds())
	}
	m.pending.Set(float64(r.Pending))
}

func (m *metrics) request(route string, status int) {
	m.api.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
