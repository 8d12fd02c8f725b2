package fleet

import (
	"context"
	"log/slog"
	"time"

	"rampart/fleet/store"
)

// runAuditRetention deletes audit entries older than keep and those beyond
// the newest maxRows, every interval until ctx ends (first at once).
func runAuditRetention(ctx context.Context, db *store.DB, keep time.Duration, maxRows int64, interval time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		old, err := db.DeleteAuditBefore(ctx, now().Add(-keep))
		var over int64
		if err == nil {
			over, err = db.TrimAudit(ctx, int(min(maxRows, int64(^uint(0)>>1))))
		}
		if err != nil && ctx.Err() == nil {
			log.Error("audit retention failed", "err", err)
		} else if old+over > 0 {
			log.Info("audit retention", "expired", old, "over_max_rows", over)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
