package telemetry

import (
	"context"
	"log/slog"
	"time"

	"rampart/fleet/store"
)

// CompactConfig configures RunCompaction.
type CompactConfig struct {
	Store *store.DB
	// Interval is the pause between compaction passes (default 10 s).
	// Pending batches are durable and queryable already; compaction only
	// keeps queries, retention and the batch table cheap.
	Interval time.Duration
	// MaxSamples bounds one compaction transaction (default
	// store.DefaultCompactSamples), so that a backlog after downtime does
	// not become one huge transaction holding SQLite's write lock.
	MaxSamples int
	Log        *slog.Logger
	// OnCompact is called after each successful pass (metrics, tests); may
	// be nil.
	OnCompact func(r store.CompactResult, took time.Duration)
}

// RunCompaction moves pending telemetry batches into per-series chunks
// every Interval until ctx ends. A pass that stopped at its bound with
// batches still pending is followed at once by another, so a backlog
// drains without waiting for the ticker. A failed pass (a conflict with
// retention, a database error) changed nothing and is retried at the next
// tick.
func RunCompaction(ctx context.Context, cfg CompactConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		r, err := cfg.Store.CompactTelemetry(ctx, cfg.MaxSamples)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			cfg.Log.Error("telemetry compaction failed", "err", err)
		default:
			if cfg.OnCompact != nil {
				cfg.OnCompact(r, time.Since(start))
			}
			if r.Batches > 0 {
				cfg.Log.Debug("telemetry compaction", "batches", r.Batches, "samples", r.Samples, "chunks", r.Chunks, "took", time.Since(start))
			}
			if r.More {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
