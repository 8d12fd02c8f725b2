package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// TestPublishACL: every PUBLISH a device sends goes through the ACL and
// the per-message limits, and each refusal is answered: MQTT 5 with a
// PUBACK carrying the reason code, MQTT 3.1.1 (no negative
// acknowledgement) by closing the connection. A QoS 1 publish to $SYS,
// which mochi drops before any hook, used to get no answer at all: the
// ping sent after it was answered first.
func TestPublishACL(t *testing.T) {
	many := make([]packets.UserProperty, 17)
	tb := startBroker(t, newFakeSink(), 8)
	other := fmt.Sprintf("%032x", 0xff)
	tb.device(t, other)
	for i, c := range []struct {
		name   string
		topic  func(id, other string) string
		retain bool
		size   int
		props  packets.Properties
		v5only bool
		code   byte
	}{
		{"$SYS", func(string, string) string { return "$SYS/x" }, false, 1, packets.Properties{}, false, 0x87},
		{"$sys, any case", func(string, string) string { return "$sys/broker/version" }, false, 1, packets.Properties{}, false, 0x87},
		{"$share", func(string, string) string { return "$share" }, false, 1, packets.Properties{}, false, 0x87},
		{"another device's jobs", func(_, o string) string { return deviceproto.JobsTopic(o) }, false, 1, packets.Properties{}, false, 0x87},
		{"its own jobs", func(id, _ string) string { return deviceproto.JobsTopic(id) }, false, 1, packets.Properties{}, false, 0x87},
		{"below its own jobs", func(id, _ string) string { return deviceproto.JobsTopic(id) + "/x" }, false, 1, packets.Properties{}, false, 0x87},
		{"retained on its own telemetry", func(id, _ string) string { return deviceproto.TelemetryTopic(id) }, true, 1, packets.Properties{}, false, 0x87},
		{"retained on another own topic", func(id, _ string) string { return "devices/" + id + "/state" }, true, 1, packets.Properties{}, false, 0x87},
		{"retained outcome too large", func(id, _ string) string { return deviceproto.StatusTopic(id) }, true, 32<<10 + 1, packets.Properties{}, false, 0x97},
		{"response topic of another device", func(id, _ string) string { return "devices/" + id + "/req" }, false, 1, packets.Properties{ResponseTopic: "devices/other/x"}, true, 0x87},
		{"17 user properties", func(id, _ string) string { return "devices/" + id + "/x" }, false, 1, packets.Properties{User: many}, true, 0x97},
		{"large correlation data", func(id, _ string) string { return "devices/" + id + "/x" }, false, 1, packets.Properties{CorrelationData: make([]byte, 300)}, true, 0x97},
	} {
		for _, v := range []byte{4, 5} {
			if c.v5only && v != 5 {
				continue
			}
			t.Run(fmt.Sprintf("%s/v%d", c.name, v), func(t *testing.T) {
				id := fmt.Sprintf("%030x%02x", i, v)
				cl := tb.dial(t, tb.device(t, id), id, v)
				topic := c.topic(id, other)
				cl.send(t, cl.pub(topic, 1, c.retain, 7, bytes.Repeat([]byte("s"), c.size), c.props))
				cl.ping(t)
				if v == 4 {
					if pk, ok := cl.closed(); !ok {
						t.Fatalf("3.1.1: got %s, want the connection closed", packets.PacketNames[pk.FixedHeader.Type])
					}
				} else if pk := cl.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != 7 || pk.ReasonCode != c.code {
					t.Fatalf("got %s id %d reason %#x, want PUBACK 7 reason %#x", packets.PacketNames[pk.FixedHeader.Type], pk.PacketID, pk.ReasonCode, c.code)
				}
				if tb.retained(topic) != nil {
					t.Fatalf("refused message retained on %s", topic)
				}
				if l := tb.audits(t, "mqtt.publish", id); len(l) != 1 || l[0].Decision != "deny" {
					t.Fatalf("audit: %+v", l)
				}
			})
		}
	}
}

// TestPublishAllowed: what a device may do is still done: telemetry,
// status and its own application topics, and one retained outcome.
func TestPublishAllowed(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			sink := newFakeSink()
			tb := startBroker(t, sink, 8)
			id := fmt.Sprintf("%032x", 0x30+v)
			cl := tb.dial(t, tb.device(t, id), id, v)
			cl.send(t, cl.pub("devices/"+id+"/app/x", 1, false, 1, []byte("x"), packets.Properties{}))
			cl.send(t, cl.pub(deviceproto.StatusTopic(id), 1, true, 2, []byte(`{"job":"j","ok":true}`), packets.Properties{}))
			cl.send(t, cl.pub("devices/"+id+"/req", 1, false, 3, []byte("x"), packets.Properties{ResponseTopic: "devices/" + id + "/resp", CorrelationData: []byte("c")}))
			for i := range 3 {
				if pk := cl.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) || pk.ReasonCode != 0 {
					t.Fatalf("publish %d: %+v", i+1, pk)
				}
			}
			if string(tb.retained(deviceproto.StatusTopic(id))) != `{"job":"j","ok":true}` {
				t.Fatalf("outcome not retained: %q", tb.retained(deviceproto.StatusTopic(id)))
			}
		})
	}
}

// TestProtocolLimits: topic aliases are not offered (mochi would keep up
// to 65,535 topic names a connection, and checked the ACL before
// resolving an alias), so using one ends an MQTT 5 connection with 0x94;
// a subscription identifier in a PUBLISH ends it with 0x82 (mochi); and
// CONNACK advertises the Maximum Packet Size mochi enforces, no shared
// subscriptions, and the server keepalive that replaced 0.
func TestProtocolLimits(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x41)
	cert := tb.device(t, id)
	cl, ack, err := tb.connectWith(t, cert, id, 5, func(pk *packets.Packet) { pk.Connect.Keepalive = 0 })
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v %v", ack, err)
	}
	p := ack.Properties
	if p.MaximumPacketSize != DefaultMaxPacketSize || !p.SharedSubAvailableFlag || p.SharedSubAvailable != 0 || !p.ServerKeepAliveFlag || p.ServerKeepAlive != 600 || p.TopicAliasMaximum != 0 {
		t.Fatalf("CONNACK properties: max packet %d, shared %v/%d, keepalive %v/%d, alias max %d", p.MaximumPacketSize, p.SharedSubAvailableFlag, p.SharedSubAvailable, p.ServerKeepAliveFlag, p.ServerKeepAlive, p.TopicAliasMaximum)
	}
	cl.send(t, cl.pub("devices/"+id+"/x", 1, false, 1, []byte("x"), packets.Properties{TopicAlias: 1, TopicAliasFlag: true}))
	if pk, ok := cl.closed(); !ok || pk.ReasonCode != packets.ErrTopicAliasInvalid.Code {
		t.Fatalf("topic alias: %+v closed %v, want DISCONNECT 0x94", pk, ok)
	}
	cl = tb.dial(t, cert, id, 5)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, TopicName: "devices/" + id + "/x", PacketID: 1,
		Payload: []byte("x"), Properties: packets.Properties{SubscriptionIdentifier: []int{1}}}
	var buf bytes.Buffer
	pk.PublishEncode(&buf)
	cl.send(t, buf.Bytes())
	if pk, ok := cl.closed(); !ok || pk.ReasonCode != packets.ErrProtocolViolationSurplusSubID.Code {
		t.Fatalf("subscription identifier in PUBLISH: %+v closed %v, want DISCONNECT 0x82", pk, ok)
	}
}

// TestRefusalsAuditedPerBurst: one device sending many refused messages
// costs one audit entry at once and one with the count when the burst
// ends, not one per packet (each was a durable commit on the device's
// read loop); a refusal of another kind is audited at once.
func TestRefusalsAuditedPerBurst(t *testing.T) {
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.AuditWindow = 200 * time.Millisecond })
	id := fmt.Sprintf("%032x", 0x42)
	cl := tb.dial(t, tb.device(t, id), id, 5)
	const n = 50
	for i := range n {
		cl.send(t, cl.pub("$SYS/x", 1, false, uint16(i+1), []byte("x"), packets.Properties{}))
	}
	cl.send(t, cl.pub(deviceproto.JobsTopic(id), 1, false, n+1, []byte("x"), packets.Properties{}))
	for i := range n + 1 {
		if pk := cl.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) || pk.ReasonCode != 0x87 {
			t.Fatalf("answer %d: %+v", i, pk)
		}
	}
	l := tb.waitAudits(t, "mqtt.publish", id, 3)
	if len(l) != 3 || !strings.Contains(l[0].Reason, "$SYS") || !strings.Contains(l[1].Reason, "/jobs") ||
		!strings.HasPrefix(l[2].Reason, fmt.Sprint("burst: ", n-1, " more from device:", id, " since ")) || !strings.Contains(l[2].Reason, "$SYS") {
		for _, e := range l {
			t.Log(e.Reason)
		}
		t.Fatalf("%d audit entries, want the first $SYS refusal, the jobs refusal, then the count of the other %d", len(l), n-1)
	}
}
