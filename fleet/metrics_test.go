package fleet

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rampart/fleet/store"
)

// The compaction hook feeds the samples counter, the pass and write
// histograms (only passes that moved something) and the pending-batches
// gauge.
func TestMetricsCompaction(t *testing.T) {
	m := newMetrics(func() float64 { return 0 })
	m.compacted(store.CompactResult{Batches: 3, Samples: 15000, Pending: 7, More: true, Write: 20 * time.Millisecond}, 40*time.Millisecond)
	m.compacted(store.CompactResult{Batches: 7, Samples: 35000, Write: 3 * time.Millisecond}, 90*time.Millisecond)
	m.compacted(store.CompactResult{}, time.Millisecond) // nothing pending
	w := httptest.NewRecorder()
	m.handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	for _, line := range []string{
		"rampart_telemetry_compacted_samples_total 50000",
		"rampart_telemetry_pending_batches 0",
		`rampart_telemetry_compaction_pass_seconds_bucket{le="0.032"} 0`,
		`rampart_telemetry_compaction_pass_seconds_bucket{le="0.064"} 1`,
		`rampart_telemetry_compaction_pass_seconds_bucket{le="0.128"} 2`,
		"rampart_telemetry_compaction_pass_seconds_count 2",
		`rampart_telemetry_compaction_write_seconds_bucket{le="0.002"} 0`,
		`rampart_telemetry_compaction_write_seconds_bucket{le="0.004"} 1`,
		`rampart_telemetry_compaction_write_seconds_bucket{le="0.032"} 2`,
	} {
		if !strings.Contains(string(body), "\n"+line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}
