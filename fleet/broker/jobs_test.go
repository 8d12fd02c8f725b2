package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// TestRetainedJobKeepsItsExpiry: a retained job lasts as long as the job
// does. mochi's one-hour cap on message expiry (MaximumMessageExpiryInterval)
// deleted every retained job an hour after it was published, so a device
// offline longer during a campaign never got its job. A job valid for a
// week is now kept a week (and no longer); one that expires in a second is
// gone soon after, while the other stays.
func TestRetainedJobKeepsItsExpiry(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	if c := tb.srv.Options.Capabilities.MaximumMessageExpiryInterval; c != 0 {
		t.Fatalf("mochi caps message expiry at %d s: it deletes any retained message older", c)
	}
	long, short := fmt.Sprintf("%032x", 0xa0), fmt.Sprintf("%032x", 0xa1)
	week := int64(7 * 24 * 3600)
	before := time.Now().Unix()
	if err := tb.PublishJob(long, []byte("weekly job"), time.Now().Add(time.Duration(week)*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := tb.PublishJob(short, []byte("brief job"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	pks := tb.srv.Topics.Messages(deviceproto.JobsTopic(long))
	if len(pks) != 1 || string(pks[0].Payload) != "weekly job" {
		t.Fatalf("retained job: %+v", pks)
	}
	if e := pks[0].Expiry; e < before+week || e > time.Now().Unix()+week+1 {
		t.Fatalf("retained job expires at %d, want %d..%d (its own expiry)", e, before+week, time.Now().Unix()+week+1)
	}
	waitFor(t, "the brief job to expire", func() bool { return tb.retained(deviceproto.JobsTopic(short)) == nil })
	if string(tb.retained(deviceproto.JobsTopic(long))) != "weekly job" {
		t.Fatal("the weekly job went with the brief one")
	}
	// A job cleared (empty payload) is gone at once.
	if err := tb.PublishJob(long, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if p := tb.retained(deviceproto.JobsTopic(long)); p != nil {
		t.Fatalf("cleared job still retained: %q", p)
	}
}

// TestOnConnectBeforeSubscribe: OnConnect runs when a device's session
// starts, before the broker reads anything from it: a job published then
// is the retained message the device's SUBSCRIBE receives.
func TestOnConnectBeforeSubscribe(t *testing.T) {
	var b atomic.Pointer[Broker]
	var calls atomic.Int64
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) {
		c.OnConnect = func(id string) {
			calls.Add(1)
			if err := b.Load().PublishJob(id, []byte("job for "+id), time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}
	})
	b.Store(tb.Broker)
	id := fmt.Sprintf("%032x", 0xa2)
	cl := tb.dial(t, tb.device(t, id), id, 5)
	if ack, err := cl.subscribe(t, 1, deviceproto.JobsTopic(id)); err != nil || ack.FixedHeader.Type != packets.Suback {
		t.Fatalf("subscribe: %+v %v", ack, err)
	}
	if pk := cl.read(t); pk.FixedHeader.Type != packets.Publish || pk.TopicName != deviceproto.JobsTopic(id) || string(pk.Payload) != "job for "+id {
		t.Fatalf("after SUBSCRIBE: %+v", pk)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("OnConnect called %d times for one session", n)
	}
}
