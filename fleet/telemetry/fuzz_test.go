package telemetry

import (
	"math"
	"testing"
	"time"

	"rampart/deviceproto"
)

// FuzzParse feeds hostile MQTT telemetry payloads (a network entry point) to
// the parser: it must never panic, and whatever it accepts must be samples of
// the sending device with a metric name and a finite value, within the limits.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"ts":1764000000000,"values":{"temperature":21.5,"rssi":-67}}`,
		`{"values":{"uptime_s":0.22}}`,
		`{"values":{"bad name":1}}`,
		`{"values":{"a":"1"}}`,
		`{"ts":-1,"values":{"a":1}}`,
		`{`, ``, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	now := time.UnixMilli(1_764_000_000_000)
	f.Fuzz(func(t *testing.T, payload []byte) {
		pts, err := Parse("dev1", payload, now, 0)
		if err != nil {
			return
		}
		if len(pts) == 0 || len(pts) > deviceproto.MaxTelemetryValues {
			t.Fatalf("accepted %d samples", len(pts))
		}
		for _, p := range pts {
			if p.DeviceID != "dev1" || p.Metric == "" || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				t.Fatalf("accepted sample %+v", p)
			}
		}
	})
}
