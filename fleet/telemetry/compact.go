package telemetry

import (
	"context"
	"log/slog"
	"time"

	"rampart/fleet/store"
)

const (
	// DefaultPassTarget is how long one compaction pass should take. On
	// SQLite a pass holds the only write lock, so this is about the longest
	// an ingest commit (and the acknowledgements waiting for it) is delayed
	// by compaction.
	DefaultPassTarget = 100 * time.Millisecond
	// DefaultPassPause is the pause between two passes while a backlog
	// drains, so that ingest commits queued behind a pass get the write lock
	// before the next pass takes it again.
	DefaultPassPause = 10 * time.Millisecond
	// firstPassSamples is the first pass's size before any has been timed:
	// a few milliseconds even when every sample is in a series of its own.
	firstPassSamples = 2000
	// minPassSamples keeps a pass from shrinking to nothing after a slow
	// one (a pause of the process, a loaded machine); a pass holds at least
	// one batch anyway.
	minPassSamples = 500
)

// CompactConfig configures RunCompaction.
type CompactConfig struct {
	Store *store.DB
	// Interval is the pause between compaction passes (default 10 s).
	// Pending batches are durable and queryable already; compaction only
	// keeps queries, retention and the batch table cheap.
	Interval time.Duration
	// MaxSamples is the most samples one pass (one transaction) takes
	// (default store.DefaultCompactSamples).
	MaxSamples int
	// PassTarget is how long a pass should hold the write lock (its write
	// transaction; default DefaultPassTarget): each pass is sized from the
	// samples per second of the one before, whatever the shape of the data
	// (a pass over many series with few samples each costs ten times more
	// per sample). Small passes cost more per sample (a series' latest
	// chunk is rewritten at every pass that touches it), so when a backlog
	// has not drained within one Interval, passes take MaxSamples until it
	// has: a longer stall is then the price of not falling behind without
	// bound. Negative: every pass takes MaxSamples (the behaviour before;
	// benchmarks).
	PassTarget time.Duration
	// PassPause is the pause between passes while a backlog drains
	// (default DefaultPassPause; negative: none).
	PassPause time.Duration
	Log       *slog.Logger
	// OnCompact is called after each successful pass (metrics, tests); may
	// be nil.
	OnCompact func(r store.CompactResult, took time.Duration)
}

// RunCompaction moves pending telemetry batches into per-series chunks
// every Interval until ctx ends. A pass that stopped at its bound with
// batches still pending is followed, after PassPause, by another, so a
// backlog drains without waiting for the ticker while ingest commits
// interleave with it. Passes are sized to hold the write lock about
// PassTarget (see CompactConfig). A failed pass (a conflict with retention, a database
// error) changed nothing and is retried at the next tick.
func RunCompaction(ctx context.Context, cfg CompactConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = store.DefaultCompactSamples
	}
	if cfg.PassTarget == 0 {
		cfg.PassTarget = DefaultPassTarget
	}
	if cfg.PassPause == 0 {
		cfg.PassPause = DefaultPassPause
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	size := cfg.MaxSamples // of the next pass
	if cfg.PassTarget > 0 {
		size = min(firstPassSamples, cfg.MaxSamples)
	}
	var draining time.Time // since when passes have run back to back
	catchUp := false
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		n := size
		if catchUp {
			n = cfg.MaxSamples
		}
		r, err := cfg.Store.CompactTelemetry(ctx, n)
		took := time.Since(start)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			cfg.Log.Error("telemetry compaction failed", "err", err)
		default:
			if cfg.OnCompact != nil {
				cfg.OnCompact(r, took)
			}
			if r.Batches > 0 {
				cfg.Log.Debug("telemetry compaction", "batches", r.Batches, "samples", r.Samples, "chunks", r.Chunks, "pending", r.Pending, "size", n, "write", r.Write, "took", took)
			}
			if cfg.PassTarget > 0 && !catchUp {
				size = nextPassSize(size, r.Samples, r.Write, cfg.PassTarget, cfg.MaxSamples)
			}
			switch {
			case !r.More:
				draining, catchUp = time.Time{}, false
			case draining.IsZero():
				draining = start
			case cfg.PassTarget > 0 && !catchUp && time.Since(draining) > cfg.Interval:
				catchUp = true
				cfg.Log.Info("telemetry compaction falling behind: passes of up to MaxSamples until the backlog drains", "pending_batches", r.Pending, "pass_samples", size)
			}
			if r.More {
				if cfg.PassPause > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(cfg.PassPause):
					}
				}
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

// nextPassSize sizes the next pass from the last one (size asked, samples
// moved in took) so that it takes about target: at the last pass's rate,
// at most twice the last size (the rate of a small pass over few series
// overstates that of a large one over many), between minPassSamples and
// maxSamples. A pass that moved too little to time keeps the size.
func nextPassSize(size, samples int, took, target time.Duration, maxSamples int) int {
	if samples < minPassSamples || took <= 0 {
		return size
	}
	want := int(float64(samples) * float64(target) / float64(took))
	return min(max(minPassSamples, min(want, 2*size)), maxSamples)
}
