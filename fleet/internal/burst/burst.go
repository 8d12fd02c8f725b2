// Package burst coalesces repeated events, such as refused requests, so that
// a flood from one source records O(1) events per window instead of one per
// request: the first event of a burst (per source and kind) is recorded at
// once, as it is; the ones that follow within the window are only counted,
// and a summary carrying the count (with the last of them) is recorded when
// the window ends, every window while the burst lasts. A key quiet for a
// whole window is forgotten, so its next event is recorded at once again.
//
// Audit returns the coalescer the fleet server's listeners (HTTPS and the
// MQTT broker) share for their refusal audit entries. The package must never drop the first event of a
// burst, never hold its lock while recording, and never keep more than
// MaxKeys sources (each key at most 2 × MaxKeyBytes): events from sources
// beyond that share one key per kind.
package burst

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Burst says what one recorded event stands for.
type Burst struct {
	Source, Kind string
	// Count is 1 for the first event of a burst (recorded as it came);
	// for a summary, the number of events counted since the last record.
	Count int
	// Since is the time of the first event Count covers.
	Since   time.Time
	Summary bool
}

// Config configures a Coalescer.
type Config[T any] struct {
	Window  time.Duration    // default 1 minute
	MaxKeys int              // sources × kinds tracked; default 10,000
	Now     func() time.Time // time.Now when nil
	// Record records an event: at once for the first of a burst (from
	// Add, whose caller waits for it), or a summary (from Tick or Flush).
	Record func(ctx context.Context, ev T, b Burst) error
	Log    *slog.Logger // summary record failures; nil discards
	// Keep, when set, returns what to hold of an event counted for a
	// summary (a bounded copy: events may carry request data, and up to
	// MaxKeys of them are held).
	Keep func(T) T
}

// Overflow is the source of the events from sources beyond MaxKeys.
const Overflow = "*"

// Coalescer coalesces events of type T. It is safe for concurrent use.
type Coalescer[T any] struct {
	cfg Config[T]
	mu  sync.Mutex
	m   map[key]*state[T]
}

type key struct{ source, kind string }

type state[T any] struct {
	last     T
	count    int       // events since the last record
	since    time.Time // first of them
	recorded time.Time // last record
}

// New returns a Coalescer.
func New[T any](cfg Config[T]) *Coalescer[T] {
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Coalescer[T]{cfg: cfg, m: map[key]*state[T]{}}
}

// MaxKeyBytes bounds the source and the kind of a key: longer ones are
// cut (a certificate's name or a request path may be tens of kilobytes,
// and a key is held as long as its burst).
const MaxKeyBytes = 256

// Add reports one event of kind from source. The first of a burst is
// recorded before Add returns (recorded true, and Record's error); the
// others are counted for the next summary.
func (c *Coalescer[T]) Add(ctx context.Context, source, kind string, ev T) (recorded bool, err error) {
	source, kind = cutKey(source), cutKey(kind)
	now := c.cfg.Now()
	held := ev
	if c.cfg.Keep != nil {
		held = c.cfg.Keep(ev)
	}
	c.mu.Lock()
	k := key{source, kind}
	st, ok := c.m[k]
	if !ok && len(c.m) >= c.cfg.MaxKeys {
		k.source = Overflow
		st, ok = c.m[k]
	}
	if ok {
		if st.count == 0 {
			st.since = now
		}
		st.count++
		st.last = held
		c.mu.Unlock()
		return false, nil
	}
	c.m[k] = &state[T]{recorded: now}
	c.mu.Unlock()
	return true, c.cfg.Record(ctx, ev, Burst{Source: k.source, Kind: kind, Count: 1, Since: now})
}

// cutKey keeps at most MaxKeyBytes of s, copied so that a longer string
// it was cut from is not held.
func cutKey(s string) string {
	if len(s) <= MaxKeyBytes {
		return s
	}
	return strings.Clone(s[:MaxKeyBytes])
}

type pending[T any] struct {
	ev T
	b  Burst
}

// Tick records a summary for each burst whose window has ended with events
// counted, and forgets the keys quiet for a whole window.
func (c *Coalescer[T]) Tick(ctx context.Context) { c.emit(ctx, false) }

// Flush records a summary for every burst with events counted, whatever
// its window (at shutdown).
func (c *Coalescer[T]) Flush(ctx context.Context) { c.emit(ctx, true) }

func (c *Coalescer[T]) emit(ctx context.Context, all bool) {
	now := c.cfg.Now()
	var out []pending[T]
	c.mu.Lock()
	for k, st := range c.m {
		due := now.Sub(st.recorded) >= c.cfg.Window
		switch {
		case st.count > 0 && (due || all):
			out = append(out, pending[T]{st.last, Burst{Source: k.source, Kind: k.kind, Count: st.count, Since: st.since, Summary: true}})
			var zero T
			st.count, st.last, st.recorded = 0, zero, now
		case st.count == 0 && due:
			delete(c.m, k)
		}
	}
	c.mu.Unlock()
	for _, p := range out {
		if err := c.cfg.Record(ctx, p.ev, p.b); err != nil {
			c.cfg.Log.Error("burst summary not recorded", "source", p.b.Source, "kind", p.b.Kind, "count", p.b.Count, "err", err)
		}
	}
}

// Run calls Tick four times a window until ctx ends, then Flush with a
// context of its own (ctx is done by then).
func (c *Coalescer[T]) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Window / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.Flush(fctx)
			cancel()
			return
		case <-t.C:
			c.Tick(ctx)
		}
	}
}

// Len is the number of keys tracked now.
func (c *Coalescer[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
