package broker

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/store"
)

// rate is one connection's token bucket: a burst of up to a second's worth
// of packets, refilled at the configured rate. It is used only on the
// connection's read goroutine, so it needs no lock. While tokens remain a
// packet costs a decrement: the clock is read only to refill an empty
// bucket, so a device within its rate never pays for a clock read (which
// was a third of the hooks' added cost per message).
type rate struct {
	interval time.Duration // 1 s / rate; 0: no limit
	burst    int64         // tokens a full bucket holds
	tokens   int64
	last     time.Duration // time up to which tokens have been credited, since Broker.started
}

func newRate(perSecond int) rate {
	if perSecond <= 0 {
		return rate{}
	}
	iv := time.Second / time.Duration(perSecond)
	// last: long ago, so that the first packet fills the bucket.
	return rate{interval: iv, burst: int64(perSecond), last: -time.Duration(perSecond) * iv}
}

// take accounts for one packet and returns how long it must wait to keep
// to the rate (0 within it); clock is read only when the bucket is empty.
func (r *rate) take(clock func() time.Duration) time.Duration {
	if r.interval == 0 {
		return 0
	}
	if r.tokens > 0 {
		r.tokens--
		return 0
	}
	now := clock()
	if elapsed := now - r.last; elapsed >= time.Duration(r.burst)*r.interval {
		r.tokens, r.last = r.burst, now
	} else if n := elapsed / r.interval; n > 0 {
		r.tokens, r.last = int64(n), r.last+n*r.interval
	}
	if r.tokens > 0 {
		r.tokens--
		return 0
	}
	// The next token accrues at last+interval: this packet takes it.
	r.last += r.interval
	return r.last - now
}

// throttle makes the read goroutine of s wait when its client sends faster
// than Config.MessageRate. Waiting rather than refusing: TCP then slows
// the client down, nothing it sent is lost, and MQTT 3.1.1 has no way to
// refuse a single message without closing the connection (whose TLS
// handshake would cost the server far more than the messages). The first
// wait of a burst is audited.
func (b *Broker) throttle(s *session) {
	d := s.rate.take(b.sinceStart)
	if d <= 0 {
		return
	}
	b.refused(s.id, "mqtt.rate", "rate", "more than "+strconv.Itoa(b.cfg.MessageRate)+" packets a second: reading the connection more slowly")
	time.Sleep(d)
}

// sinceStart is the rate limiters' clock (monotonic).
func (b *Broker) sinceStart() time.Duration { return time.Since(b.started) }

// packetSummary is mochi's log handler: mochi logs whole packets (payload,
// properties) as attributes, as in the WARN line for a refused 3.1.1
// publish; this one replaces each by its type, topic and size, so that
// device data never reaches the log.
type packetSummary struct{ slog.Handler }

func (h packetSummary) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(summarize(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h packetSummary) WithAttrs(as []slog.Attr) slog.Handler {
	for i := range as {
		as[i] = summarize(as[i])
	}
	return packetSummary{h.Handler.WithAttrs(as)}
}

func (h packetSummary) WithGroup(name string) slog.Handler {
	return packetSummary{h.Handler.WithGroup(name)}
}

func summarize(a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	var pk *packets.Packet
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		pk = &v
	case *packets.Packet:
		pk = v
	default:
		return a
	}
	if pk == nil {
		return a
	}
	return slog.Group(a.Key, "type", packets.PacketNames[pk.FixedHeader.Type], "topic", store.AuditText(pk.TopicName, 256), "payload_bytes", len(pk.Payload))
}
