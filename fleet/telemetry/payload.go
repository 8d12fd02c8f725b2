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
// ts is Unix milliseconds, optional (the server's receive time when absent
// or 0), at most 24 hours ahead of the server's clock and, when a retention
// is set, not older than it (retention would delete the samples at once).
// null is refused anywhere (encoding/json would store a null value as 0),
// and so is a repeated key: a second "values" object (which encoding/json
// merges into the first, also when spelled "Values") or a metric named
// twice (of which it keeps the last).
type Message struct {
	TS     int64              `json:"ts,omitempty"`
	Values map[string]float64 `json:"values"`
}

// Parse decodes a payload from deviceID into samples. now is the server's
// clock; retention, when positive, refuses a ts older than now-retention.
func Parse(deviceID string, payload []byte, now time.Time, retention time.Duration) ([]store.Point, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrPayload, len(payload), MaxPayload)
	}
	m, ok := scanCanonical(payload)
	if !ok {
		var err error
		if m, err = decodeJSON(payload); err != nil {
			return nil, err
		}
	}
	return m.points(deviceID, now, retention)
}

// decodeJSON is the reference decoder (encoding/json, then strictJSON);
// scanCanonical is the fast path for the shape devices send.
func decodeJSON(payload []byte) (message, error) {
	var jm Message
	if err := json.Unmarshal(payload, &jm); err != nil {
		return message{}, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	if err := strictJSON(payload); err != nil {
		return message{}, err
	}
	m := message{ts: jm.TS, values: make([]sample, 0, len(jm.Values))}
	for k, v := range jm.Values {
		m.values = append(m.values, sample{name: k, value: v})
	}
	return m, nil
}

// points validates a decoded message and turns it into samples.
func (m message) points(deviceID string, now time.Time, retention time.Duration) ([]store.Point, error) {
	if len(m.values) == 0 || len(m.values) > MaxValues {
		return nil, fmt.Errorf("%w: values: %d entries, want 1..%d", ErrPayload, len(m.values), MaxValues)
	}
	t := now
	if m.ts != 0 {
		if m.ts < 0 || m.ts > now.Add(24*time.Hour).UnixMilli() {
			return nil, fmt.Errorf("%w: ts %d out of range", ErrPayload, m.ts)
		}
		t = time.UnixMilli(m.ts)
		if retention > 0 && t.Before(now.Add(-retention)) {
			return nil, fmt.Errorf("%w: ts %d is older than the retention window (%s)", ErrPayload, m.ts, retention)
		}
	}
	out := make([]store.Point, 0, len(m.values))
	for _, s := range m.values {
		if !validMetric(s.name) {
			return nil, fmt.Errorf("%w: metric name %q: want 1..%d of [A-Za-z0-9_.-]", ErrPayload, s.name, MaxMetricLen)
		}
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
			return nil, fmt.Errorf("%w: metric %q: not a finite number", ErrPayload, s.name)
		}
		out = append(out, store.Point{DeviceID: deviceID, Metric: s.name, Time: t, Value: s.value})
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
