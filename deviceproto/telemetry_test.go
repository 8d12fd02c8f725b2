package deviceproto

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTelemetryJSON: the message keeps its field names, and a sample
// without the device's time leaves ts out (the server stamps it).
func TestTelemetryJSON(t *testing.T) {
	for m, want := range map[*Telemetry]string{
		{TS: 1764086400000, Values: map[string]float64{"temperature": 21.5}}: `{"ts":1764086400000,"values":{"temperature":21.5}}`,
		{Values: map[string]float64{"rssi": -67}}:                            `{"values":{"rssi":-67}}`,
	} {
		if b, _ := json.Marshal(m); string(b) != want {
			t.Errorf("%s, want %s", b, want)
		}
	}
}

func TestValidMetric(t *testing.T) {
	for s, ok := range map[string]bool{
		"temperature": true, "cpu.load-1m_avg": true, "A9": true, strings.Repeat("m", MaxMetricLen): true,
		"": false, strings.Repeat("m", MaxMetricLen+1): false, "bad name": false, "é": false, "a/b": false, "a+": false, "a#": false,
	} {
		if ValidMetric(s) != ok {
			t.Errorf("ValidMetric(%q) = %v", s, !ok)
		}
	}
}
