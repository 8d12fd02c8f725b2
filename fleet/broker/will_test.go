package broker

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// TestWillACL: a CONNECT's Will is held to the rules of a publish (mochi
// publishes Wills without any ACL hook). The attack from issue 15: device
// A connects with a retained Will on devices/B/jobs and drops the
// connection; B's agent then received a forged job. Now the CONNECT is
// refused (MQTT 5 with the reason code, 3.1.1 with 0x05), audited, and
// nothing reaches B. A Will on the device's own topics is accepted, and
// published when the connection drops.
func TestWillACL(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			tb := startBroker(t, newFakeSink(), 8)
			a, b := fmt.Sprintf("%031xa", v), fmt.Sprintf("%031xb", v)
			certA, certB := tb.device(t, a), tb.device(t, b)
			seen := tb.watchTopics(t, "#")
			many := make([]packets.UserProperty, 17)
			for _, c := range []struct {
				name   string
				set    func(*packets.Packet)
				v5only bool
				code   byte // MQTT 5
			}{
				{"retained will on another device's jobs", withWill(deviceproto.JobsTopic(b), true, []byte(`{"id":"evil","url":"http://x"}`), packets.Properties{}), false, 0x87},
				{"will on another device's telemetry", withWill(deviceproto.TelemetryTopic(b), false, []byte("x"), packets.Properties{}), false, 0x87},
				{"will on $SYS", withWill("$SYS/broker/version", false, []byte("x"), packets.Properties{}), false, 0x87},
				{"will on its own jobs", withWill(deviceproto.JobsTopic(a), false, []byte("x"), packets.Properties{}), false, 0x87},
				{"retained will on its own telemetry", withWill(deviceproto.TelemetryTopic(a), true, []byte("x"), packets.Properties{}), false, 0x87},
				{"will topic with a wildcard", withWill("devices/"+a+"/#", false, []byte("x"), packets.Properties{}), false, 0x90},
				{"will of 5000 bytes", withWill(deviceproto.StatusTopic(a), false, make([]byte, 5000), packets.Properties{}), false, 0x97},
				{"will response topic of another device", withWill(deviceproto.StatusTopic(a), false, []byte("x"), packets.Properties{ResponseTopic: deviceproto.JobsTopic(b)}), true, 0x87},
				{"will with 17 user properties", withWill(deviceproto.StatusTopic(a), false, []byte("x"), packets.Properties{User: many}), true, 0x97},
				{"connect with 17 user properties", func(pk *packets.Packet) { pk.Properties.User = many }, true, 0x97},
				{"connect with an authentication method", func(pk *packets.Packet) { pk.Properties.AuthenticationMethod = "SCRAM-SHA-1" }, true, 0x8C},
			} {
				if c.v5only && v != 5 {
					continue
				}
				cl, ack, err := tb.connectWith(t, certA, a, v, c.set)
				want := c.code
				if v == 4 {
					want = packets.Err3NotAuthorized.Code
				}
				if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != want {
					t.Errorf("%s: CONNACK %+v (%v), want reason %#x", c.name, ack.ReasonCode, err, want)
					continue
				}
				if _, ok := cl.closed(); !ok {
					t.Errorf("%s: connection not closed after the refusal", c.name)
				}
			}
			if l := tb.audits(t, "mqtt.connect", a); len(l) == 0 || !strings.Contains(l[0].Reason, "will") || !strings.Contains(l[0].Reason, deviceproto.JobsTopic(b)) {
				t.Errorf("no audit entry naming the refused will: %+v", l)
			}
			// B subscribes to its jobs: no retained message is there (the
			// ping is answered right after the SUBACK and any retained
			// message).
			cb := tb.dial(t, certB, b, v)
			if ack, err := cb.subscribe(t, 1, deviceproto.JobsTopic(b)); err != nil || ack.FixedHeader.Type != packets.Suback {
				t.Fatalf("subscribe: %+v %v", ack, err)
			}
			cb.ping(t)
			if pk := cb.read(t); pk.FixedHeader.Type != packets.Pingresp {
				t.Fatalf("device B received %s on %q, want nothing before the ping's answer", packets.PacketNames[pk.FixedHeader.Type], pk.TopicName)
			}
			// A Will on A's own topic is accepted and published when the
			// connection drops; the retained one only on its updates topic.
			ca, ack, err := tb.connectWith(t, certA, a, v, withWill(deviceproto.StatusTopic(a), true, []byte(`{"job":"x","ok":false}`), packets.Properties{}))
			if err != nil || ack.ReasonCode != 0 {
				t.Fatalf("own will refused: %+v %v", ack, err)
			}
			waitFor(t, "the session", func() bool { return tb.Connected() == 2 })
			ca.conn.Close()
			waitFor(t, "the will", func() bool {
				return slices.Contains(seen.topics(), deviceproto.StatusTopic(a)) && tb.retained(deviceproto.StatusTopic(a)) != nil
			})
			for _, topic := range seen.topics() {
				if topic != deviceproto.StatusTopic(a) {
					t.Errorf("published on %s", topic)
				}
			}
			if !bytes.Equal(tb.retained(deviceproto.StatusTopic(a)), []byte(`{"job":"x","ok":false}`)) {
				t.Errorf("retained will on %s: %q", deviceproto.StatusTopic(a), tb.retained(deviceproto.StatusTopic(a)))
			}
		})
	}
}

// retained returns the payload retained on topic, if any.
func (tb *testBroker) retained(topic string) []byte {
	for _, pk := range tb.srv.Topics.Messages(topic) {
		return pk.Payload
	}
	return nil
}
