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

// busRetryEvery is how often the sender publishes again what the stream
// did not acknowledge within busPublishFor.
const busRetryEvery = time.Second

// runSender publishes what Job queues until the queue is closed, then
// returns after what was queued is sent (or has failed).
//
// A message the stream does not acknowledge within busPublishFor (a
// stream without a quorum, a NATS cluster too loaded to answer) is kept
// and published again every busRetryEvery until it is acknowledged or a
// newer message for the same device and kind supersedes it. Before, it
// was dropped with a warning: its job then reached the other nodes'
// devices only when the evaluator re-sent it, 30 s later, which is how
// 300-device runs on a loaded machine lost whole steps' jobs
// (TestBusMessageKeptUntilStored).
func (n *Node) runSender() {
	defer close(n.senderDone)
	retry := map[string]*nats.Msg{} // by subject: the latest unacknowledged
	tick := time.NewTicker(busRetryEvery)
	defer tick.Stop()
	for {
		var batch []*nats.Msg
		select {
		case first, ok := <-n.outbox:
			if !ok {
				if len(retry) > 0 {
					n.cfg.Log.Warn("messages not acknowledged by the bus stream at close: they are published again when their devices connect", "messages", len(retry))
				}
				return
			}
			batch = n.fillBatch(first)
		case <-tick.C:
			if len(retry) == 0 {
				continue
			}
			for subj, m := range retry {
				if len(batch) == busPipeline {
					break
				}
				batch = append(batch, m)
				delete(retry, subj)
			}
		}
		failed := n.sendBatch(batch)
		// In queue order: a later message for a subject supersedes an
		// earlier one, acknowledged or not.
		for i, m := range batch {
			if failed[i] {
				retry[m.Subject] = m
			} else {
				delete(retry, m.Subject)
			}
		}
	}
}

// fillBatch is first and what else is queued now, up to busPipeline.
func (n *Node) fillBatch(first *nats.Msg) []*nats.Msg {
	batch := []*nats.Msg{first}
	for len(batch) < busPipeline {
		select {
		case m, ok := <-n.outbox:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// sendBatch publishes batch asynchronously, then publishes again, one at
// a time with retries for at most busPublishFor in all, each message
// whose acknowledgement failed. It reports which were not acknowledged.
func (n *Node) sendBatch(batch []*nats.Msg) []bool {
	acks := make([]jetstream.PubAckFuture, len(batch))
	for i, m := range batch {
		acks[i], _ = n.js.PublishMsgAsync(m) // nil: retried below
	}
	failed := make([]bool, len(batch))
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	deadline := time.Now().Add(busPublishFor)
	var lastErr error
	kept := 0
	for i, a := range acks {
		if a != nil {
			select {
			case <-a.Ok():
				continue
			case <-a.Err():
			case <-timeout.C:
			}
		}
		if lastErr != nil && time.Now().After(deadline) {
			failed[i], kept = true, kept+1 // the stream is not answering: no more waits in this batch
			continue
		}
		if err := n.publishRetrying(batch[i], time.Until(deadline)); err != nil {
			failed[i], kept, lastErr = true, kept+1, err
		}
	}
	if kept > 0 {
		n.cfg.Log.Warn("messages not yet stored for the other nodes: kept, and published again", "messages", kept, "err", lastErr)
	}
	return failed
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
