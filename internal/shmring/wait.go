package shmring

import (
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultSpin is how long a reader spins for a frame before it sleeps,
// unless RAMPART_SPE_SPIN (a Go duration, "0" to never spin) says
// otherwise. 50 µs covers an ECDSA P-256 signature on the SPE's side on an
// ordinary core, so a client waiting for one rarely sleeps; a reader whose
// recent waits were longer than its bound spins only an eighth of it
// (adaptive), so an idle peer costs at most that per wait.
const DefaultSpin = 50 * time.Microsecond

// sleepSlice is how long one futex sleep lasts before the reader checks
// its stop condition and deadline again.
const sleepSlice = 50 * time.Millisecond

// SpinFromEnv returns RAMPART_SPE_SPIN when it is a valid duration, else
// DefaultSpin.
func SpinFromEnv() time.Duration {
	if v := os.Getenv("RAMPART_SPE_SPIN"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 && d <= time.Second {
			return d
		}
		if n, err := strconv.Atoi(v); err == nil && n == 0 {
			return 0
		}
	}
	return DefaultSpin
}

// Waiter is one reader's waiting policy: spin up to Spin (bounded), then
// sleep on the futex. It adapts: after a wait longer than Spin it spins
// only Spin/8 the next time, after a shorter one the whole Spin again.
// One goroutine at a time uses a Waiter.
type Waiter struct {
	Spin  time.Duration
	short bool // the last wait outlasted Spin

	// Counters for benchmarks: waits met while spinning, and sleeps.
	Spun, Slept atomic.Uint64
}

// NewWaiter returns a Waiter that spins at most spin.
func NewWaiter(spin time.Duration) *Waiter { return &Waiter{Spin: spin} }

// wait returns once s's sequence differs from last, stop() is true
// (ErrClosed) or the deadline (zero: none) passed (ErrTimeout).
func (w *Waiter) wait(s *Slot, last uint32, stop func() bool, deadline time.Time) error {
	if atomic.LoadUint32(s.seq) != last {
		return nil
	}
	start := time.Now()
	budget := w.Spin
	if w.short {
		budget /= 8
	}
	if budget > 0 && w.spin(s, last, start.Add(budget)) {
		w.Spun.Add(1)
		w.short = false
		return nil
	}
	w.Slept.Add(1)
	for {
		atomic.StoreUint32(s.sleeping, 1)
		if atomic.LoadUint32(s.seq) != last {
			atomic.StoreUint32(s.sleeping, 0)
			break
		}
		d := sleepSlice
		if !deadline.IsZero() {
			if left := time.Until(deadline); left < d {
				d = left
			}
		}
		if d > 0 {
			s.sleep(d)
		}
		atomic.StoreUint32(s.sleeping, 0)
		if atomic.LoadUint32(s.seq) != last {
			break
		}
		if stop != nil && stop() {
			return ErrClosed
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return ErrTimeout
		}
	}
	w.short = time.Since(start) > w.Spin
	return nil
}

// spin busy-waits for a new sequence until until; every few hundred loads
// it yields the processor to the process's other goroutines (the SPE's
// other sessions) and to other threads (sched_yield: on a shared core the
// peer it waits for may be queued behind it).
func (w *Waiter) spin(s *Slot, last uint32, until time.Time) bool {
	for i := 1; ; i++ {
		if atomic.LoadUint32(s.seq) != last {
			return true
		}
		if i%64 == 0 {
			if !time.Now().Before(until) {
				return false
			}
			if i%512 == 0 {
				runtime.Gosched()
				osYield()
			}
		}
	}
}
