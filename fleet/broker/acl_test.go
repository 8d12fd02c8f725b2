package broker

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

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
	if deviceproto.TelemetryTopic(id) != "devices/"+id+"/telemetry" || !allowed(id, deviceproto.TelemetryTopic(id)) {
		t.Fatal("a device may not publish its own telemetry")
	}
	if deviceproto.ProgressTopic(id) != "devices/"+id+"/progress" || !allowed(id, deviceproto.ProgressTopic(id)) || allowed("other", deviceproto.ProgressTopic(id)) {
		t.Fatal("a device's progress topic is not its own alone")
	}
}

func TestPublishRules(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for topic, want := range map[string][2]bool{ // publish, retain
		"devices/" + id + "/telemetry":  {true, false},
		"devices/" + id + "/updates":    {true, true},
		"devices/" + id + "/updates/x":  {true, false},
		"devices/" + id + "/progress":   {true, false},
		"devices/" + id + "/app/x":      {true, false},
		"devices/" + id + "/jobs":       {false, false},
		"devices/" + id + "/jobs/x":     {false, false},
		"devices/" + id + "/jobsx":      {true, false},
		"devices/" + id + "x/telemetry": {false, false},
		"devices/other/updates":         {false, false},
		"$SYS/x":                        {false, false},
	} {
		if got := canPublish(id, topic); got != want[0] {
			t.Errorf("canPublish(%q) = %v", topic, got)
		}
		if got := canRetain(id, topic); got != want[1] {
			t.Errorf("canRetain(%q) = %v", topic, got)
		}
	}
	for cn, want := range map[string]bool{id: true, "": false, "a/b": false, "a+": false, "a#": false, "$SYS": false, "a\x00": false, string(make([]byte, 129)): false} {
		if validDeviceID(cn) != want {
			t.Errorf("validDeviceID(%q) = %v", cn, !want)
		}
	}
}

// TestPublishChecksAllocationFree: what the hooks add to every telemetry
// message (the session look-up and rate limit in OnPacketRead, the ACL and
// limits in OnPublish) allocates nothing.
func TestPublishChecksAllocationFree(t *testing.T) {
	tb := startBrokerWith(t, acceptAll{}, func(c *Config) { c.MessageRate = 1_000_000_000 })
	h := &hook{b: tb.Broker}
	id := "0123456789abcdef0123456789abcdef"
	cl, _ := fuzzSession(tb, h, id, 4)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: deviceproto.TelemetryTopic(id), PacketID: 1, Payload: []byte(`{"values":{"t":1}}`)}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := h.OnPacketRead(cl, pk); err != nil {
			t.Fatal(err)
		}
		if r := tb.limits.checkMessage(id, pk.TopicName, pk.FixedHeader.Retain, len(pk.Payload), &pk.Properties); r != nil {
			t.Fatal(r.detail)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}

// BenchmarkPublishChecks measures what the hooks add per telemetry message.
//
//	go test ./fleet/broker -run '^$' -bench PublishChecks -benchmem
func BenchmarkPublishChecks(b *testing.B) {
	tb := startBrokerWith(b, acceptAll{}, func(c *Config) { c.MessageRate = 1_000_000_000 })
	h := &hook{b: tb.Broker}
	id := "0123456789abcdef0123456789abcdef"
	cl, _ := fuzzSession(tb, h, id, 4)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: deviceproto.TelemetryTopic(id), PacketID: 1, Payload: []byte(`{"values":{"t":1}}`)}
	b.ReportAllocs()
	for b.Loop() {
		h.OnPacketRead(cl, pk)
		tb.limits.checkMessage(id, pk.TopicName, pk.FixedHeader.Retain, len(pk.Payload), &pk.Properties)
	}
}
