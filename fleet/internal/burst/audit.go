package burst

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"rampart/fleet/store"
)

// Audit returns a coalescer of refusal audit entries written to db: the
// first of a burst as it is; a summary as the last entry coalesced, at the
// summary's time, its reason prefixed "burst: N more from SOURCE since T;
// last: ". Callers key bursts by the source (netlimit.Source) and a kind
// naming what was refused and why (action, code, subject as relevant).
func Audit(db *store.DB, window time.Duration, maxKeys int, now func() time.Time, log *slog.Logger) *Coalescer[*store.AuditEntry] {
	return New(Config[*store.AuditEntry]{Window: window, MaxKeys: maxKeys, Now: now, Log: log, Keep: keepAudit,
		Record: func(ctx context.Context, e *store.AuditEntry, b Burst) error {
			if b.Summary {
				s := *e
				s.ID, s.Time = 0, time.Time{}
				s.Reason = "burst: " + strconv.Itoa(b.Count) + " more from " + b.Source + " since " + b.Since.UTC().Format(time.RFC3339) + "; last: " + e.Reason
				e = &s
				if log != nil {
					log.Info("refusals coalesced", "action", e.Action, "source", b.Source, "count", b.Count, "since", b.Since)
				}
			}
			return db.Audit(ctx, e)
		}})
}

// keepAudit is the bounded copy of an entry held for a summary: at most
// about 2 KB whatever the request carried.
func keepAudit(e *store.AuditEntry) *store.AuditEntry {
	c := *e
	c.Actor, c.Action, c.Subject = cut(c.Actor, 256), cut(c.Action, 256), cut(c.Subject, 512)
	c.Decision, c.Reason = cut(c.Decision, 16), cut(c.Reason, 1024)
	return &c
}

// cut keeps at most n bytes of s (the store cleans what it writes).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.Clone(s[:n])
}
