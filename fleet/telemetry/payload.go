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
	m, err := decode(payload)
	if err != nil {
		return nil, err
	}
	return m.points(deviceID, now, retention)
}

// decode reads a payload into a message without validating its contents.
func decode(payload []byte) (message, error) {
	if len(payload) > deviceproto.MaxTelemetrySize {
		return message{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrPayload, len(payload), deviceproto.MaxTelemetrySize)
	}
	if m, ok := scanCanonical(payload); ok {
		return m, nil
	}
	return decodeJSON(payload)
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
	t, err := m.time(now, retention)
	if err != nil {
		return nil, err
	}
	out := make([]store.Point, 0, len(m.values))
	for _, s := range m.values {
		if err := s.check(); err != nil {
			return nil, err
		}
		out = append(out, store.Point{DeviceID: deviceID, Metric: s.name, Time: t, Value: s.value})
	}
	return out, nil
}

// time checks the number of values and returns the samples' time: ts, or
// now when the device sent none.
func (m message) time(now time.Time, retention time.Duration) (time.Time, error) {
	if len(m.values) == 0 || len(m.values) > deviceproto.MaxTelemetryValues {
		return time.Time{}, fmt.Errorf("%w: values: %d entries, want 1..%d", ErrPayload, len(m.values), deviceproto.MaxTelemetryValues)
	}
	if m.ts == 0 {
		return now, nil
	}
	if m.ts < 0 || m.ts > now.Add(24*time.Hour).UnixMilli() {
		return time.Time{}, fmt.Errorf("%w: ts %d out of range", ErrPayload, m.ts)
	}
	t := time.UnixMilli(m.ts)
	if retention > 0 && t.Before(now.Add(-retention)) {
		return time.Time{}, fmt.Errorf("%w: ts %d is older than the retention window (%s)", ErrPayload, m.ts, retention)
	}
	return t, nil
}

// check refuses a metric name or value the store must not hold.
func (s sample) check() error {
	if !deviceproto.ValidMetric(s.name) {
		return fmt.Errorf("%w: metric name %q: want 1..%d of [A-Za-z0-9_.-]", ErrPayload, s.name, deviceproto.MaxMetricLen)
	}
	if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
		return fmt.Errorf("%w: metric %q: not a finite number", ErrPayload, s.name)
	}
	return nil
}
