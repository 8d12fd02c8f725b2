package burst

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"rampart/fleet/store"
)

// Audit returns a coalescer of refusal audit entries written to db: the
// first of a burst as it is; a summary as the last entry coalesced, at the
// summary's time, its reason prefixed "burst: N more from SOURCE since T;
// last: ". Callers key bursts by the source (netlimit.Source) and a kind
// naming what was refused and why (action, code, subject as relevant).
func Audit(db *store.DB, window time.Duration, maxKeys int, now func() time.Time, log *slog.Logger) *Coalescer[*store.AuditEntry] {
	return New(Config[*store.AuditEntry]{Window: window, MaxKeys: maxKeys, Now: now, Log: log,
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
