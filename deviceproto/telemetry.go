package deviceproto

// Telemetry is a telemetry message, on a device's TelemetryTopic (QoS 1:
// the fleet acknowledges it once the samples are stored; docs/agent.md
// and docs/fleet-admin-api.md):
//
//	{"ts": 1764086400000, "values": {"temperature": 21.5, "rssi": -67}}
//
// ts is Unix milliseconds, optional (the server's receive time when absent
// or 0), at most 24 hours ahead of the server's clock and, when the fleet
// keeps telemetry for a retention window, not older than it. values holds
// 1 to MaxTelemetryValues finite numbers named by ValidMetric names. null
// is refused anywhere (encoding/json would read a null value as 0), and so
// is a repeated key: a second "values" object (which encoding/json merges
// into the first, also when spelled "Values") or a metric named twice (of
// which it keeps the last). The fleet's parser, which stores the samples,
// is fleet/telemetry's.
type Telemetry struct {
	TS     int64              `json:"ts,omitempty"`
	Values map[string]float64 `json:"values"`
}

// Limits on one telemetry message.
const (
	MaxTelemetrySize   = 8 << 10 // bytes of JSON
	MaxTelemetryValues = 64      // metrics in one message
	MaxMetricLen       = 64      // bytes of a metric name
)

// ValidMetric reports whether s can name a metric: 1 to MaxMetricLen
// characters of [A-Za-z0-9_.-].
func ValidMetric(s string) bool {
	if len(s) == 0 || len(s) > MaxMetricLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
