package broker

import "testing"

func TestAllowed(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for topic, want := range map[string]bool{
		"devices/" + id + "/telemetry":  true,
		"devices/" + id + "/commands/#": true,
		"devices/" + id + "/":           false, // nothing after the prefix
		"devices/" + id:                 false,
		"devices/+/telemetry":           false,
		"devices/#":                     false,
		"#":                             false,
		"$SYS/broker/clients":           false,
		"devices/" + id + "x/telemetry": false,
		"devices/other/telemetry":       false,
		"devices//" + id + "/telemetry": false,
	} {
		if got := allowed(id, topic); got != want {
			t.Errorf("allowed(%q) = %v, want %v", topic, got, want)
		}
	}
	if TelemetryTopic(id) != "devices/"+id+"/telemetry" || !allowed(id, TelemetryTopic(id)) {
		t.Fatal("a device may not publish its own telemetry")
	}
	if ProgressTopic(id) != "devices/"+id+"/progress" || !allowed(id, ProgressTopic(id)) || allowed("other", ProgressTopic(id)) {
		t.Fatal("a device's progress topic is not its own alone")
	}
}
