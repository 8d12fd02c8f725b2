package broker

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// TestRetainedQuota: the device held 1,000 retained 60 KB
// messages (RSS +138 MB). A device may now retain one message, its
// update outcome: 200 retained 60 KB messages on its own topics are all
// refused and nothing is kept; two audit entries (the first refusal, and
// the count of the rest once the burst ends).
func TestRetainedQuota(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x50)
	cl := tb.dial(t, tb.device(t, id), id, 5)
	before := tb.srv.Topics.Retained.Len()
	payload := bytes.Repeat([]byte("r"), 60<<10)
	const n = 200
	go func() {
		for i := range n {
			cl.conn.Write(cl.pub(fmt.Sprintf("devices/%s/store/%d", id, i), 1, true, uint16(i+1), payload, packets.Properties{}))
		}
	}()
	for i := range n {
		if pk := cl.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) || pk.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Fatalf("retained publish %d: %+v", i, pk)
		}
	}
	if got := tb.srv.Topics.Retained.Len(); got != before {
		t.Fatalf("%d retained messages kept, want %d", got-before, 0)
	}
	if l := tb.audits(t, "mqtt.publish", id); len(l) != 1 {
		t.Fatalf("%d audit entries during the burst, want 1", len(l))
	}
	tb.Close() // writes the count of the burst still open
	if l := tb.audits(t, "mqtt.publish", id); len(l) != 2 || !strings.HasPrefix(l[1].Reason, fmt.Sprint("burst: ", n-1, " more from device:", id)) {
		t.Fatalf("audit after Close: %+v", l)
	}
}

// TestSubscriptionQuota: a session may hold Config.MaxSubscriptions
// filters; a SUBSCRIBE going beyond ends the connection (MQTT 5:
// DISCONNECT 0x97) and subscribes to nothing. Filters outside the
// device's prefix ($SYS, shared subscriptions, other devices) are refused.
func TestSubscriptionQuota(t *testing.T) {
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.MaxSubscriptions = 4 })
	for _, v := range []byte{4, 5} {
		id := fmt.Sprintf("%032x", 0x60+v)
		cert := tb.device(t, id)
		cl := tb.dial(t, cert, id, v)
		want := byte(0x87)
		if v == 4 {
			want = 0x80
		}
		for _, f := range []string{"$SYS/#", "$share/g/devices/" + id + "/x", "devices/+/jobs", "#", "devices/" + id} {
			if ack, err := cl.subscribe(t, 1, f); err != nil || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != want {
				t.Fatalf("v%d: subscribe %s: %+v %v", v, f, ack.ReasonCodes, err)
			}
		}
		if ack, err := cl.subscribe(t, 2, "devices/"+id+"/a", "devices/"+id+"/b", "devices/"+id+"/#", deviceproto.JobsTopic(id)); err != nil || !bytes.Equal(ack.ReasonCodes, []byte{1, 1, 1, 1}) {
			t.Fatalf("v%d: four subscriptions: %+v %v", v, ack.ReasonCodes, err)
		}
		if ack, err := cl.subscribe(t, 3, deviceproto.JobsTopic(id)); err != nil || !bytes.Equal(ack.ReasonCodes, []byte{1}) {
			t.Fatalf("v%d: subscribing again to a filter held: %+v %v", v, ack.ReasonCodes, err)
		}
		pk, err := cl.subscribe(t, 4, "devices/"+id+"/c")
		if v == 5 && (err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrQuotaExceeded.Code) {
			t.Fatalf("v5: fifth subscription: %s reason %#x (%v), want DISCONNECT 0x97", packets.PacketNames[pk.FixedHeader.Type], pk.ReasonCode, err)
		}
		if _, ok := cl.closed(); !ok {
			t.Fatalf("v%d: connection not closed after the fifth subscription", v)
		}
		waitFor(t, "the session to end", func() bool {
			_, ok := tb.srv.Clients.Get(id)
			return !ok && len(tb.srv.Topics.Subscribers("devices/"+id+"/c").Subscriptions) == 0
		})
		if l := tb.audits(t, "mqtt.subscribe", id); len(l) != 2 || !strings.Contains(l[1].Reason, "at most 4") {
			t.Fatalf("v%d: audit: %+v", v, l)
		}
	}
}

// TestMessageRate: beyond Config.MessageRate packets a second the broker
// reads the connection more slowly: every message is still answered, none
// earlier than the rate allows, and the throttling is audited once.
func TestMessageRate(t *testing.T) {
	sink := newFakeSink()
	tb := startBrokerWith(t, sink, func(c *Config) { c.MessageRate = 100; c.Window = 64 })
	id := fmt.Sprintf("%032x", 0x70)
	cl := tb.dial(t, tb.device(t, id), id, 4)
	const n = 160
	go settleShuffled(t, sink, n, func([]byte) error { return nil })
	start := time.Now()
	go func() {
		var all []byte
		for i := range n {
			all = append(all, cl.publish(uint16(i+1), payloadN(i))...)
		}
		cl.conn.Write(all)
	}()
	for i := range n {
		if pk := cl.read(t); pk.PacketID != uint16(i+1) || pk.ReasonCode != 0 {
			t.Fatalf("acknowledgement %d: %+v", i, pk)
		}
	}
	// A burst of 100 at once, then 100 a second: 60 more take 0.6 s at
	// least (a lower bound: a loaded machine only makes it longer).
	if d := time.Since(start); d < 550*time.Millisecond {
		t.Fatalf("%d messages in %v: the rate of 100/s was not applied", n, d)
	}
	if l := tb.audits(t, "mqtt.rate", id); len(l) != 1 || !strings.Contains(l[0].Reason, "100 packets a second") {
		t.Fatalf("audit: %+v", l)
	}
}

// TestRateTake: the token bucket's arithmetic, on a synthetic clock.
func TestRateTake(t *testing.T) {
	r := newRate(10) // 100 ms apart, a burst of 10
	now := time.Hour
	reads := 0
	clock := func() time.Duration { reads++; return now }
	for i := range 10 {
		if d := r.take(clock); d != 0 {
			t.Fatalf("packet %d of the burst waits %v", i, d)
		}
	}
	if reads != 1 {
		t.Fatalf("%d clock reads for a burst, want 1 (to fill the bucket)", reads)
	}
	if d := r.take(clock); d != 100*time.Millisecond {
		t.Fatalf("11th packet at once waits %v, want 100ms", d)
	}
	now += 150 * time.Millisecond // it waited 100 ms, then 50 ms passed
	if d := r.take(clock); d != 50*time.Millisecond {
		t.Fatalf("next waits %v, want 50ms", d)
	}
	now += 350 * time.Millisecond // three tokens accrued meanwhile
	for i := range 3 {
		if d := r.take(clock); d != 0 {
			t.Fatalf("accrued token %d: waits %v", i, d)
		}
	}
	if d := r.take(clock); d != 100*time.Millisecond {
		t.Fatalf("after the accrued tokens: waits %v, want 100ms", d)
	}
	now += 10 * time.Second // idle: the whole burst is available again
	for i := range 10 {
		if d := r.take(clock); d != 0 {
			t.Fatalf("after idling, packet %d waits %v", i, d)
		}
	}
	if d := (&rate{}).take(clock); d != 0 {
		t.Fatalf("no limit: waits %v", d)
	}
}

// TestInflightBounded: a device cannot make the broker hold more than the
// receive window of its unfinished QoS 2 messages: the next one ends the
// connection (mochi; MQTT 5 DISCONNECT 0x93).
func TestInflightBounded(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x71)
	cl := tb.dial(t, tb.device(t, id), id, 5)
	for i := range 8 {
		cl.send(t, cl.pub("devices/"+id+"/x", 2, false, uint16(i+1), []byte("x"), packets.Properties{}))
		if pk := cl.read(t); pk.FixedHeader.Type != packets.Pubrec {
			t.Fatalf("publish %d: %+v", i, pk)
		}
	}
	cl.send(t, cl.pub("devices/"+id+"/x", 2, false, 9, []byte("x"), packets.Properties{}))
	if pk, ok := cl.closed(); !ok || pk.ReasonCode != packets.ErrReceiveMaximum.Code {
		t.Fatalf("ninth unfinished QoS 2 message: %+v closed %v", pk, ok)
	}
}

// TestRefusedPublishLog: a refused MQTT 3.1.1 publish used to make mochi
// log the whole packet at WARN (payload included); the broker's lines now
// carry the topic, the size and the client, never the payload.
func TestRefusedPublishLog(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.Log = log })
	id := fmt.Sprintf("%032x", 0x72)
	cert := tb.device(t, id)
	for _, topic := range []string{"devices/other/telemetry", deviceproto.JobsTopic(id), "$SYS/x"} {
		cl := tb.dial(t, cert, id, 4)
		cl.send(t, cl.pub(topic, 1, false, 1, []byte("SECRET-PAYLOAD-BYTES"), packets.Properties{}))
		if _, ok := cl.closed(); !ok {
			t.Fatalf("%s: connection not closed", topic)
		}
		waitFor(t, "the session to end", func() bool { return tb.Connected() == 0 })
	}
	// mochi's own protocol-error path (a wildcard in a topic name) also
	// logs the packet.
	cl := tb.dial(t, cert, id, 4)
	cl.send(t, cl.pub("devices/"+id+"/#", 1, false, 1, []byte("SECRET-PAYLOAD-BYTES"), packets.Properties{}))
	cl.closed()
	waitFor(t, "the session to end", func() bool { return tb.Connected() == 0 })
	out := logs.String()
	if strings.Contains(out, "SECRET") || strings.Contains(out, "83 69 67 82 69 84") || strings.Contains(out, "Payload") {
		t.Fatalf("payload in the log:\n%s", out)
	}
	if !strings.Contains(out, "topic="+deviceproto.JobsTopic(id)) || !strings.Contains(out, "bytes=20") || !strings.Contains(out, "device="+id) {
		t.Fatalf("refused publish not logged with its topic, size and client:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
