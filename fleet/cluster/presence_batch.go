package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PresenceChange is a session's start (Up) or end, for SessionsChanged.
type PresenceChange struct {
	Device  string
	Started time.Time
	Up      bool
}

// ownEntry is a presence entry this node wrote: the session's start and
// the entry's revision (from the write's acknowledgement).
type ownEntry struct {
	started int64
	rev     uint64
}

// SessionsChanged records a batch of session starts and ends, in order,
// with one round trip for the batch:
//
//   - coalesced: per device only the state after the whole batch is
//     written, so a session that started and ended within it is not
//     written at all, and an end of an older session than the one the
//     device holds here now is ignored (as SessionEnded does);
//   - pipelined: the writes are published at once and their
//     acknowledgements awaited together;
//   - an end deletes the entry only while it is still the revision this
//     node wrote for that session (known from the start's
//     acknowledgement, so no read first): a newer session, here or on
//     another node, keeps its entry.
//
// Calls must not overlap for one device (fleet's presence workers keep a
// device on one worker).
func (n *Node) SessionsChanged(ctx context.Context, changes []PresenceChange) error {
	type state struct {
		started int64
		up      bool
	}
	final := map[string]state{}
	var order []string
	n.ownMu.Lock()
	for _, c := range changes {
		s, seen := final[c.Device]
		if !seen {
			order = append(order, c.Device)
			if e, ok := n.own[c.Device]; ok {
				s = state{e.started, true}
			}
		}
		switch started := c.Started.UnixNano(); {
		case c.Up:
			s = state{started, true}
		case s.up && s.started == started:
			s = state{}
		}
		final[c.Device] = s
	}
	n.ownMu.Unlock()

	type pending struct {
		device  string
		started int64
		up      bool
		ack     jetstream.PubAckFuture
	}
	var sent []pending
	var errs []error
	prefix := "$KV." + n.cfg.Cluster + "-presence."
	for _, d := range order {
		s := final[d]
		n.ownMu.Lock()
		e, had := n.own[d]
		n.ownMu.Unlock()
		var msg *nats.Msg
		switch {
		case s.up && (!had || e.started != s.started):
			b, _ := json.Marshal(presenceValue{Node: n.cfg.Node, Started: s.started})
			msg = &nats.Msg{Subject: prefix + presenceKey(d), Data: b}
		case !s.up && had:
			msg = nats.NewMsg(prefix + presenceKey(d))
			msg.Header.Set("KV-Operation", "DEL")
			msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(e.rev, 10))
		default:
			continue // unchanged
		}
		ack, err := n.js.PublishMsgAsync(msg)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster: presence %s: %w", d, err))
			continue
		}
		sent = append(sent, pending{d, s.started, s.up, ack})
	}
	for _, p := range sent {
		select {
		case a := <-p.ack.Ok():
			n.ownMu.Lock()
			if p.up {
				n.own[p.device] = ownEntry{p.started, a.Sequence}
			} else {
				delete(n.own, p.device)
			}
			n.ownMu.Unlock()
		case err := <-p.ack.Err():
			if !p.up && isRevisionConflict(err) {
				// Another session's entry replaced ours: it stays, and
				// ours is no longer there to delete.
				n.ownMu.Lock()
				delete(n.own, p.device)
				n.ownMu.Unlock()
				continue
			}
			errs = append(errs, fmt.Errorf("cluster: presence %s: %w", p.device, err))
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("cluster: presence: %w", ctx.Err()))...)
		}
	}
	return errors.Join(errs...)
}
