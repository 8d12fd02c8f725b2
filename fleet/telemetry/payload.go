package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

// ErrPayload: a telemetry message is malformed.
var ErrPayload = errors.New("telemetry: bad payload")

// Parse decodes a payload from deviceID, a deviceproto.Telemetry message,
// into samples, with all the checks its definition lists. now is the
// server's clock; retention, when positive, refuses a ts older than
// now-retention.
func Parse(deviceID string, payload []byte, now time.Time, retention time.Duration) ([]store.Point, error) {
	if len(payload) > deviceproto.MaxTelemetrySize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrPayload, len(payload), deviceproto.MaxTelemetrySize)
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
	var jm deviceproto.Telemetry
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
	if len(m.values) == 0 || len(m.values) > deviceproto.MaxTelemetryValues {
		return nil, fmt.Errorf("%w: values: %d entries, want 1..%d", ErrPayload, len(m.values), deviceproto.MaxTelemetryValues)
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
		if !deviceproto.ValidMetric(s.name) {
			return nil, fmt.Errorf("%w: metric name %q: want 1..%d of [A-Za-z0-9_.-]", ErrPayload, s.name, deviceproto.MaxMetricLen)
		}
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
			return nil, fmt.Errorf("%w: metric %q: not a finite number", ErrPayload, s.name)
		}
		out = append(out, store.Point{DeviceID: deviceID, Metric: s.name, Time: t, Value: s.value})
	}
	return out, nil
}
