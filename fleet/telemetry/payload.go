package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"rampart/fleet/store"
)

// Limits on one message.
const (
	MaxPayload   = 8 << 10
	MaxValues    = 64
	MaxMetricLen = 64
)

// ErrPayload: a telemetry message is malformed.
var ErrPayload = errors.New("telemetry: bad payload")

// Message is a telemetry payload:
//
//	{"ts": 1764086400000, "values": {"temperature": 21.5, "rssi": -67}}
//
// ts is Unix milliseconds, optional (the server's receive time when absent).
type Message struct {
	TS     int64              `json:"ts,omitempty"`
	Values map[string]float64 `json:"values"`
}

// Parse decodes a payload from deviceID into samples.
func Parse(deviceID string, payload []byte, now time.Time) ([]store.Point, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrPayload, len(payload), MaxPayload)
	}
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	if len(m.Values) == 0 || len(m.Values) > MaxValues {
		return nil, fmt.Errorf("%w: values: %d entries, want 1..%d", ErrPayload, len(m.Values), MaxValues)
	}
	t := now
	if m.TS != 0 {
		if m.TS < 0 || m.TS > now.Add(24*time.Hour).UnixMilli() {
			return nil, fmt.Errorf("%w: ts %d out of range", ErrPayload, m.TS)
		}
		t = time.UnixMilli(m.TS)
	}
	out := make([]store.Point, 0, len(m.Values))
	for k, v := range m.Values {
		if !validMetric(k) {
			return nil, fmt.Errorf("%w: metric name %q: want 1..%d of [A-Za-z0-9_.-]", ErrPayload, k, MaxMetricLen)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: metric %q: not a finite number", ErrPayload, k)
		}
		out = append(out, store.Point{DeviceID: deviceID, Metric: k, Time: t, Value: v})
	}
	return out, nil
}

func validMetric(s string) bool {
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
