package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"rampart/fleet/store"
)

// ErrClosed: the writer has stopped.
var ErrClosed = errors.New("telemetry: writer closed")

// WriterConfig configures a Writer.
type WriterConfig struct {
	Store *store.DB
	Now   func() time.Time
	Log   *slog.Logger
	// MaxBatch is the most samples in one transaction (default 5000).
	MaxBatch int
	// MaxDelay is how long a batch waits for company (default 2 ms).
	MaxDelay time.Duration
	// OnCommit is called with each committed batch size (metrics); may be nil.
	OnCommit func(samples int, took time.Duration)
}

// Writer batches samples into transactions (group commit).
type Writer struct {
	cfg    WriterConfig
	in     chan *batchReq
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

type batchReq struct {
	points []store.Point
	done   chan error
}

// NewWriter starts a writer; Close stops it after flushing.
func NewWriter(cfg WriterConfig) *Writer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 5000
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 2 * time.Millisecond
	}
	w := &Writer{cfg: cfg, in: make(chan *batchReq, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Store parses a device's payload and returns once its samples are
// committed. It implements broker.Sink.
func (w *Writer) Store(ctx context.Context, deviceID string, payload []byte) error {
	pts, err := Parse(deviceID, payload, w.cfg.Now())
	if err != nil {
		return err
	}
	return w.Write(ctx, pts)
}

// Write returns once pts are committed.
func (w *Writer) Write(ctx context.Context, pts []store.Point) error {
	select {
	case <-w.stop:
		return ErrClosed
	default:
	}
	r := &batchReq{points: pts, done: make(chan error, 1)}
	select {
	case w.in <- r:
	case <-w.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-w.done:
		// The loop has exited; it may have committed r while draining.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done(): // the batch may still commit
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	var (
		reqs []*batchReq
		pts  []store.Point
	)
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.cfg.Store.InsertPoints(ctx, pts)
		cancel()
		if err != nil {
			w.cfg.Log.Error("telemetry batch failed", "samples", len(pts), "err", err)
		} else if w.cfg.OnCommit != nil {
			w.cfg.OnCommit(len(pts), time.Since(start))
		}
		for _, r := range reqs {
			r.done <- err
		}
		reqs, pts = reqs[:0], pts[:0]
	}
	for {
		var first *batchReq
		select {
		case first = <-w.in:
		case <-w.stop:
			// Drain what was already queued, then stop.
			for {
				select {
				case r := <-w.in:
					reqs = append(reqs, r)
					pts = append(pts, r.points...)
				default:
					flush()
					return
				}
			}
		}
		reqs = append(reqs, first)
		pts = append(pts, first.points...)
		timer := time.NewTimer(w.cfg.MaxDelay)
	fill:
		for len(pts) < w.cfg.MaxBatch {
			select {
			case r := <-w.in:
				reqs = append(reqs, r)
				pts = append(pts, r.points...)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		flush()
	}
}

// Close flushes queued samples and stops the writer.
func (w *Writer) Close() {
	w.closed.Do(func() { close(w.stop) })
	<-w.done
}

// RunRetention deletes samples older than keep every interval until ctx ends.
func RunRetention(ctx context.Context, db *store.DB, keep, interval time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := db.DeletePointsBefore(ctx, now().Add(-keep))
		if err != nil && ctx.Err() == nil {
			log.Error("telemetry retention failed", "err", err)
		} else if n > 0 {
			log.Info("telemetry retention", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
