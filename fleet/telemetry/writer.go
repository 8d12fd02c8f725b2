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
	// MaxDelay is how long a batch waits for company (default 2 ms) when
	// nothing was queued during the previous commit; otherwise what was
	// queued commits at once.
	MaxDelay time.Duration
	// Retention refuses samples older than now-Retention (Parse); 0 sets no
	// lower bound. The server passes telemetry.retention.
	Retention time.Duration
	// OnCommit is called with each committed batch size (metrics); may be nil.
	OnCommit func(samples int, took time.Duration)
}

// queueLen is how many submissions may wait for the writer's loop: more
// than the messages a server's connections keep in flight together under
// load (the load test: 200 × 32), so that the read loops rarely block on
// it while a commit runs.
const queueLen = 16384

// Writer batches samples from every connection into transactions (group
// commit) and reports each submission's outcome once its batch is settled.
type Writer struct {
	cfg  WriterConfig
	in   chan batchReq
	stop chan struct{}
	done chan struct{}
	// mu orders Submit against Close: Submit sends under the read lock,
	// Close marks the writer closed under the write lock before stopping
	// the loop, so that no submission can slip in after the final drain
	// and never be answered.
	mu     sync.RWMutex
	closed bool
}

type batchReq struct {
	points []store.Point
	one    store.Point // the sample when single (points then nil)
	single bool
	done   func(error)
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
	w := &Writer{cfg: cfg, in: make(chan batchReq, queueLen), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Submit parses a device's payload and queues its samples without waiting
// for the commit. A malformed payload is refused with an error wrapping
// ErrPayload and done is not called. Otherwise done is called exactly once:
// with nil only after the transaction holding the samples has committed,
// with the store's error if it failed, or with ErrClosed if the writer has
// stopped (then possibly before Submit returns). done runs on the writer's
// goroutine and must not block. Submit blocks while the queue is full
// (backpressure). It implements broker.Sink.
func (w *Writer) Submit(deviceID string, payload []byte, done func(error)) error {
	m, err := decode(payload)
	if err != nil {
		return err
	}
	now := w.cfg.Now()
	if len(m.values) != 1 {
		pts, err := m.points(deviceID, now, w.cfg.Retention)
		if err != nil {
			return err
		}
		w.submit(batchReq{points: pts, done: done})
		return nil
	}
	// One sample, the common message: carried in the request itself,
	// with the checks Parse makes, rather than in a slice of its own (an
	// allocation a message fewer).
	t, err := m.time(now, w.cfg.Retention)
	if err == nil {
		err = m.values[0].check()
	}
	if err != nil {
		return err
	}
	w.submit(batchReq{one: store.Point{DeviceID: deviceID, Metric: m.values[0].name, Time: t, Value: m.values[0].value}, single: true, done: done})
	return nil
}

func (w *Writer) submit(r batchReq) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		r.done(ErrClosed)
		return
	}
	w.in <- r // the loop runs until Close, which waits for this read lock
	w.mu.RUnlock()
}

// Write returns once pts are committed (or ctx ends: the samples may
// still commit then). It is the blocking form of Submit for callers that
// have samples already parsed.
func (w *Writer) Write(ctx context.Context, pts []store.Point) error {
	ch := make(chan error, 1)
	w.submit(batchReq{points: pts, done: func(err error) { ch <- err }})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	var (
		reqs []batchReq
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
		for i := range reqs {
			reqs[i].done(err)
			reqs[i] = batchReq{} // let the samples and callbacks be collected
		}
		clear(pts)
		reqs, pts = reqs[:0], pts[:0]
	}
	add := func(r batchReq) {
		reqs = append(reqs, r)
		if r.single {
			pts = append(pts, r.one)
		} else {
			pts = append(pts, r.points...)
		}
	}
	// drain adds the queued requests without waiting, up to MaxBatch samples.
	drain := func() {
		for len(pts) < w.cfg.MaxBatch {
			select {
			case r := <-w.in:
				add(r)
			default:
				return
			}
		}
	}
	for {
		select {
		case r := <-w.in:
			add(r)
		case <-w.stop:
			// Close has marked the writer closed: nothing more can be
			// queued. Commit what was, then stop.
			for {
				select {
				case r := <-w.in:
					add(r)
					if len(pts) >= w.cfg.MaxBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
		if len(w.in) > 0 {
			// Requests queued while the previous batch committed: the
			// load is pipelined, and the commit itself was the wait for
			// company. Take what is queued and commit at once; waiting
			// MaxDelay more would only add to every acknowledgement's
			// latency, and so lower the rate of devices that keep a
			// bounded window of messages in flight.
			drain()
			flush()
			continue
		}
		timer := time.NewTimer(w.cfg.MaxDelay)
	fill:
		for len(pts) < w.cfg.MaxBatch {
			select {
			case r := <-w.in:
				add(r)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		flush()
	}
}

// Close commits queued samples, answers every submission, and stops the
// writer. Submissions after Close are answered with ErrClosed.
func (w *Writer) Close() {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		close(w.stop)
	}
	<-w.done
}

// RunRetention deletes samples older than keep every interval until ctx ends.
func RunRetention(ctx context.Context, db *store.DB, keep, interval time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := retainOnce(ctx, db, now().Add(-keep))
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

// deletePointsBefore is the store call retention makes (a seam for tests).
var deletePointsBefore = (*store.DB).DeletePointsBefore

// retainOnce runs one retention pass, retried at once (a few times) when a
// concurrent compaction changed a row it was trimming (store.ErrConflict),
// rather than waiting a whole interval (an hour in the server).
func retainOnce(ctx context.Context, db *store.DB, cut time.Time) (int64, error) {
	const attempts = 3
	var total int64
	for i := 1; ; i++ {
		n, err := deletePointsBefore(db, ctx, cut)
		total += n
		if err == nil || !errors.Is(err, store.ErrConflict) || i == attempts {
			return total, err
		}
	}
}
