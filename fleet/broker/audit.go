package broker

import (
	"context"
	"time"

	"rampart/fleet/internal/burst"
	"rampart/fleet/store"
)

// Refusals are audited once per burst, through the coalescer the fleet
// server shares among all its listeners (fleet/internal/burst; the broker
// makes its own when Config.Refusals is nil): the first refusal of a kind
// from one device is written to the audit log (and the log) at once,
// later ones within the window are only counted, and when the window
// closes one more entry gives their count and the last reason. A device
// hammering a forbidden topic so costs two audit rows a window, not one
// durable commit per packet (which also stalled the refused client's read
// loop on the store). A different kind of refusal is a burst of its own,
// audited at once rather than hidden in a count. Counts still open are
// written when the coalescer is flushed: by Close for the broker's own,
// by the server at shutdown for a shared one.

// maxOpenBursts bounds the broker's own coalescer: subjects of refused
// handshakes come from whatever certificate a client presents; beyond the
// bound, sources share one burst per kind.
const maxOpenBursts = 4096

// refused records a refusal by device id: metrics every time, the audit
// log once per burst of its kind (the action and the rule that refused).
func (b *Broker) refused(id, action, kind, detail string) {
	if b.cfg.OnDeny != nil {
		b.cfg.OnDeny(action)
	}
	if b.closed.Load() {
		return
	}
	// Keyed by the device id, even for a certificate that did not verify
	// (its name is the client's): each device's refusal is seen at once;
	// a flood of names is bounded by the coalescer's keys.
	source := "device:" + id
	e := &store.AuditEntry{Actor: "device:" + id, Action: action, Subject: id, Decision: store.Deny, Reason: detail}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recorded, err := b.refusals.Add(ctx, source, action+" "+kind, e)
	if err != nil {
		b.cfg.Log.Error("audit write failed", "err", err)
	}
	if recorded {
		b.cfg.Log.Info("mqtt refused", "device", store.AuditText(id, 128), "action", action, "reason", store.AuditText(detail, 1024))
	}
}

// startRefusals runs the broker's own coalescer (a shared one is run by
// its owner).
func (b *Broker) startRefusals() {
	if !b.ownRefusals {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.stopRefusals = func() { cancel(); <-done }
	go func() {
		defer close(done)
		b.refusals.Run(ctx) // flushes when ctx ends
	}()
}

// closeRefusals stops auditing and writes the counts of the bursts still
// open in the broker's own coalescer.
func (b *Broker) closeRefusals() {
	b.closed.Store(true)
	switch {
	case !b.ownRefusals:
	case b.stopRefusals != nil:
		b.stopRefusals()
	default: // never started
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.refusals.Flush(ctx)
		cancel()
	}
}

// newRefusals is the broker's own coalescer.
func newRefusals(cfg *Config) *burst.Coalescer[*store.AuditEntry] {
	return burst.Audit(cfg.Store, cfg.AuditWindow, maxOpenBursts, cfg.Now, cfg.Log)
}

// quoteTopic is a topic as audit reasons show it: quoted, cleaned and
// cut as the audit log stores text.
func quoteTopic(t string) string { return `"` + store.AuditText(t, 256) + `"` }
