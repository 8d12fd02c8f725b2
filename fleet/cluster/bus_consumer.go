package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A bus consumer is the NATS client library's ordered consumer, which
// recreates itself when its server or connection goes away, plus a
// watchdog for the losses it does not recover from. A pull request
// answered with a terminal status (400 Bad Request), or a recreation
// whose first pull fails, ends its pulls for good, and the library says
// so only to the error handler: the node then missed every later job,
// disconnect and superseded certificate until it restarted. That is how,
// we believe, one -cluster.long run left 73 devices "notified" that the
// evaluator's re-sends every 30 s never reached
// (TestBusConsumerRecreated reproduces the loss with a real server).
//
// The watchdog asks the stream every busWatchEvery for the last message
// stored under the consumer's subjects. When that is past the last one
// delivered, and stays so with nothing delivered for busStallAfter, the
// consumer is stopped and a new one made from the sequence after the last
// delivered: nothing is missed. A message the old and the new one both
// deliver is handled once (by its stream sequence).

// busWatchEvery is how often a bus consumer is checked against its stream.
const busWatchEvery = 2 * time.Second

// busStallAfter is how long a bus consumer may stay behind its stream
// without delivering anything before it is recreated: longer than the
// library's own recovery (two missed heartbeats, then a recreation) needs
// on a loaded machine. With 5 s, a -cluster.long run whose NATS stream
// leader was killed under load recreated consumers every few seconds
// while the library was still recovering them, and each recreation (a
// JetStream API call to a cluster electing leaders) timed out or started
// over: churn, not repair. After a recreation that did not help, the next
// waits twice as long, up to busStallMax.
const (
	busStallAfter = 15 * time.Second
	busStallMax   = 2 * time.Minute
)

// busRecreateWithin bounds the creation of a replacement consumer.
const busRecreateWithin = 10 * time.Second

// busConsumer reads one kind of message from the bus stream.
type busConsumer struct {
	n      *Node
	kind   string
	filter string
	f      func(message)
	stream jetstream.Stream
	cancel context.CancelFunc // ends watch

	mu       sync.Mutex
	cc       jetstream.ConsumeContext
	last     uint64        // stream sequence of the last message delivered (or the one before the start)
	behind   time.Time     // since when the stream holds a message past last with none delivered; zero when not behind
	patience time.Duration // how long behind counts as stalled: busStallAfter, doubled after each recreation that did not help
	closed   bool
}

// start makes an ordered consumer from the sequence after b.last and
// consumes it, stopping the previous one if any.
func (b *busConsumer) start(ctx context.Context) error {
	b.mu.Lock()
	from := b.last + 1
	b.mu.Unlock()
	cons, err := b.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return fmt.Errorf("cluster: bus consumer %s: %w", b.kind, err)
	}
	cc, err := cons.Consume(b.handle, jetstream.PullHeartbeat(busHeartbeat), jetstream.PullExpiry(5*busHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Warn, not Debug: an error here may be the consumer
			// stopping for good (the watchdog then recreates it).
			b.n.cfg.Log.Warn("bus consumer", "kind", b.kind, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("cluster: bus consumer %s: %w", b.kind, b.n.explainDenied(err))
	}
	b.mu.Lock()
	old, closed := b.cc, b.closed
	b.cc, b.behind = cc, time.Time{}
	b.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	if closed {
		cc.Stop()
	}
	return nil
}

// handle delivers msg unless a consumer delivered it (or a later one)
// already.
func (b *busConsumer) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	b.mu.Lock()
	if md.Sequence.Stream <= b.last {
		b.mu.Unlock()
		return
	}
	b.last, b.behind, b.patience = md.Sequence.Stream, time.Time{}, busStallAfter
	b.mu.Unlock()
	if m, ok := b.n.busMessage(b.kind, msg.Subject(), msg.Data()); ok {
		b.f(m)
	}
}

// stalled checks the consumer against the stream at now and reports
// whether it has stayed behind, delivering nothing, for busStallAfter.
func (b *busConsumer) stalled(ctx context.Context, now time.Time) bool {
	raw, err := b.stream.GetLastMsgForSubject(ctx, b.filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false
	}
	if err != nil {
		// NATS itself is in trouble: the library's recovery deals
		// with that; a stall is judged when the stream answers.
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if raw.Sequence <= b.last {
		b.behind = time.Time{}
		return false
	}
	if b.behind.IsZero() {
		b.behind = now
		return false
	}
	if b.patience == 0 {
		b.patience = busStallAfter
	}
	return now.Sub(b.behind) >= b.patience
}

// watch checks the consumer every busWatchEvery until ctx ends, and
// recreates it when it stalled.
func (b *busConsumer) watch(ctx context.Context) {
	tick := time.NewTicker(busWatchEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, busWatchEvery)
		stalled := b.stalled(cctx, time.Now())
		cancel()
		if stalled {
			b.recreate(ctx)
		}
	}
}

// recreate replaces a stalled consumer and makes the next stall wait
// twice as long (until a message is delivered).
func (b *busConsumer) recreate(ctx context.Context) {
	b.mu.Lock()
	last, since := b.last, time.Since(b.behind)
	b.patience = min(2*b.patience, busStallMax)
	b.mu.Unlock()
	b.n.cfg.Log.Warn("bus consumer stalled behind its stream: recreated", "kind", b.kind, "last_delivered", last, "behind_for", since.Round(time.Millisecond))
	cctx, cancel := context.WithTimeout(ctx, busRecreateWithin)
	defer cancel()
	if err := b.start(cctx); err != nil {
		b.n.cfg.Log.Warn("bus consumer not recreated: tried again", "kind", b.kind, "err", err)
	}
}

// stop stops the consumer and its watchdog for good.
func (b *busConsumer) stop() {
	if b.cancel != nil {
		b.cancel()
	}
	b.mu.Lock()
	cc := b.cc
	b.closed = true
	b.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}
