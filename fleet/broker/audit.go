package broker

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"rampart/fleet/store"
)

// bursts audits refusals once per burst: the first refusal of a (subject,
// action, kind) triple is written to the audit log (and the log) at once, later
// ones within the window are only counted, and when the window closes one
// more entry gives their count and the last reason. A device hammering a
// forbidden topic so costs two audit rows a window, not one durable commit
// per packet (which also stalled the refused client's read loop on the
// store). The count is never lost: Close writes the open bursts.
type bursts struct {
	window time.Duration
	write  func(ctx context.Context, e *store.AuditEntry) error
	log    *slog.Logger

	mu     sync.Mutex
	open   map[burstKey]*burst
	closed bool
}

// burstKey is what a burst counts: refusals of one kind (a static word:
// "topic", "revoked", "rate", ...) of one action by one subject, so that a
// different cause is audited at once rather than hidden in a count.
type burstKey struct{ subject, action, kind string }

type burst struct {
	first time.Time
	more  int    // refusals after the first
	last  string // reason of the latest
	timer *time.Timer
}

// maxOpenBursts bounds the table: subjects of refused handshakes come from
// whatever certificate a client presents, so an attacker could make one
// per connection; beyond the bound they share one burst per action.
const maxOpenBursts = 4096

func newBursts(window time.Duration, write func(context.Context, *store.AuditEntry) error, log *slog.Logger) *bursts {
	return &bursts{window: window, write: write, log: log, open: map[burstKey]*burst{}}
}

// deny records one refusal. Only the first of a burst writes (and waits
// for) an audit row.
func (a *bursts) deny(subject, action, kind, reason string) {
	k := burstKey{subject, action, kind}
	now := time.Now()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if _, ok := a.open[k]; !ok && len(a.open) >= maxOpenBursts {
		k.subject = "*"
	}
	if b, ok := a.open[k]; ok {
		b.more++
		b.last = reason
		a.mu.Unlock()
		return
	}
	b := &burst{first: now}
	b.timer = time.AfterFunc(a.window, func() { a.end(k, b) })
	a.open[k] = b
	a.mu.Unlock()
	a.record(k, reason)
}

// end closes a burst and writes its count, if any refusal followed the first.
func (a *bursts) end(k burstKey, b *burst) {
	a.mu.Lock()
	if a.open[k] != b {
		a.mu.Unlock()
		return
	}
	delete(a.open, k)
	more, last := b.more, b.last
	a.mu.Unlock()
	if more > 0 {
		a.record(k, strconv.Itoa(more)+" more refusals since "+b.first.UTC().Format(time.RFC3339)+"; last: "+last)
	}
}

// flush closes every open burst (the broker is stopping).
func (a *bursts) flush() {
	a.mu.Lock()
	a.closed = true
	open := a.open
	a.open = map[burstKey]*burst{}
	a.mu.Unlock()
	for k, b := range open {
		b.timer.Stop()
		if b.more > 0 {
			a.record(k, strconv.Itoa(b.more)+" more refusals since "+b.first.UTC().Format(time.RFC3339)+"; last: "+b.last)
		}
	}
}

func (a *bursts) record(k burstKey, reason string) {
	subject := clip(k.subject, 128)
	a.log.Info("mqtt refused", "device", subject, "action", k.action, "reason", reason)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := &store.AuditEntry{Actor: "device:" + subject, Action: k.action, Subject: subject, Decision: store.Deny, Reason: clip(reason, 1024)}
	if err := a.write(ctx, e); err != nil {
		a.log.Error("audit write failed", "err", err)
	}
}

// clip makes s safe to record: at most n bytes, valid UTF-8, no control
// characters (a topic or a certificate's common name comes from the
// client; PostgreSQL refuses NUL in text).
func clip(s string, n int) string {
	clean := len(s) <= n && utf8.ValidString(s)
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] != 0x7f
	}
	if clean {
		return s
	}
	q := strconv.Quote(s)
	q = q[1 : len(q)-1]
	if len(q) > n {
		q = q[:n]
		for !utf8.ValidString(q) {
			q = q[:len(q)-1]
		}
		q += "..."
	}
	return q
}

// quoteTopic is a topic as audit reasons show it: quoted, clipped.
func quoteTopic(t string) string { return `"` + clip(t, 256) + `"` }
