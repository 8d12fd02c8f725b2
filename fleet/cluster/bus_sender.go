package cluster

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Jobs (and superseded certificates, one per enrollment) are sent to the
// bus stream by one sender goroutine, not by their caller: the campaign engine publishes a job while it holds its
// publication lock, and a device's session start waits on that lock
// before its read loop runs, so a job publish must cost what the local
// broker's does, not a replicated write's round trip. The sender keeps the
// callers' order (one device's job, then its clearing), pipelines what is
// queued (asynchronous publishes, then every acknowledgement) and retries
// a failed one (same message ID: stored once) for busPublishFor.

// busQueue is the sender's queue; a full queue makes Job wait.
const busQueue = 8192

// busPipeline bounds the publishes in flight at once.
const busPipeline = 256

// runSender publishes what Job queues until the queue is closed, then
// returns after what was queued is sent (or has failed).
func (n *Node) runSender() {
	defer close(n.senderDone)
	for first := range n.outbox {
		batch := []*nats.Msg{first}
	fill:
		for len(batch) < busPipeline {
			select {
			case m, ok := <-n.outbox:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		n.sendBatch(batch)
	}
}

// sendBatch publishes batch asynchronously, then publishes again, one at
// a time with retries, each message whose acknowledgement failed.
func (n *Node) sendBatch(batch []*nats.Msg) {
	acks := make([]jetstream.PubAckFuture, len(batch))
	for i, m := range batch {
		acks[i], _ = n.js.PublishMsgAsync(m) // nil: retried below
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for i, a := range acks {
		if a != nil {
			select {
			case <-a.Ok():
				continue
			case <-a.Err():
			case <-timeout.C:
			}
		}
		if err := n.publishRetrying(batch[i], busPublishFor); err != nil {
			n.cfg.Log.Warn("message not sent to the other nodes", "subject", batch[i].Subject, "err", err)
		}
	}
}

// enqueue hands m to the sender.
func (n *Node) enqueue(m *nats.Msg) error {
	n.outMu.RLock()
	defer n.outMu.RUnlock()
	if n.outClosed {
		return nats.ErrConnectionClosed
	}
	n.outbox <- m
	return nil
}

// stopSender closes the queue and waits, at most d, for what was queued
// to be sent.
func (n *Node) stopSender(d time.Duration) {
	n.outMu.Lock()
	if !n.outClosed {
		n.outClosed = true
		close(n.outbox)
	}
	n.outMu.Unlock()
	select {
	case <-n.senderDone:
	case <-time.After(d):
		n.cfg.Log.Warn("jobs still queued for the other nodes at close: they are published again when their devices connect")
	}
}

// publishRetrying publishes m until the stream acknowledges it or within
// passes.
func (n *Node) publishRetrying(m *nats.Msg, within time.Duration) error {
	deadline := time.Now().Add(within)
	wait := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := n.js.PublishMsg(ctx, m)
		cancel()
		if err == nil || time.Now().Add(wait).After(deadline) || err == nats.ErrConnectionClosed {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}
