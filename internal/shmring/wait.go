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
// last wait lasted more than idleAfter times its bound spins only an eighth of it
// (adaptive), so an idle peer costs at most that per wait.
const DefaultSpin = 50 * time.Microsecond

// While spinning, a reader gives its Go processor to the process's other
// goroutines (the SPE's other sessions) every goschedEvery, and never its
// core (sched_yield): on an EEVDF kernel (Linux 6.6 on) a spinner that has
// run its share is no longer eligible, so its yield hands the core to any
// other runnable thread, a niced build's included, for that thread's whole
// slice (milliseconds). Under niced load 9-20 on this project's 2-core
// machine (TestIsolationCost, 23:13-23:59 UTC, docs/spe-isolation.md
// section 6), a level-1 round trip over the lane took 118-178 µs yielding
// every 2 µs, 18-48 µs yielding only when stuck on the peer's CPU, 32 µs
// yielding only when getcpu said the peer last ran there, and 5.4-6.8 µs
// never yielding (12-13 µs over the socket). Two threads on one CPU are
// separated by the Apart waiter instead, and a spin that does not meet its
// frame ends in a sleep, which lets a queued peer run.
const goschedEvery = 20 * time.Microsecond

// An Apart waiter checks, once a wait has spun apartAfter, whether it runs
// on the CPU its peer last reported, and moves off it at most once every
// apartEvery. A reader publishes its CPU every publishEvery waits and
// after each sleep (one getcpu system call).
const (
	apartAfter   = 4 * time.Microsecond
	apartEvery   = time.Millisecond
	publishEvery = 32
)

// sleepSlice is how long one doorbell sleep lasts before the reader checks
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
// sleep on the doorbell. It adapts: after a wait longer than Spin it spins
// only Spin/8 the next time, after a shorter one the whole Spin again.
// "Longer" means more than idleAfter×Spin: a peer that answers a little
// after the spin (a signature slowed down by a loaded machine) is still
// worth the whole spin, while one that is idle between calls is not.
// One goroutine at a time uses a Waiter.
type Waiter struct {
	Spin  time.Duration
	short bool // the last wait outlasted idleAfter×Spin

	// Apart makes the waiter move its thread off the CPU its peer last
	// ran on when it finds itself there while spinning: two threads that
	// hand frames to each other on one CPU each wait for the other to be
	// scheduled (the kernel's wake-up affinity puts them together, and
	// nothing separates two threads that never sleep), while on two CPUs
	// a round trip costs no scheduling at all. Set it on one side of a
	// lane only, the caller's, so that the two never chase each other.
	Apart bool
	n     uint64    // waits so far
	moved time.Time // the last move

	// Counters for benchmarks: waits met while spinning, sleeps, and moves
	// off the peer's CPU.
	Spun, Slept, Moved atomic.Uint64
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
	if w.n++; w.n%publishEvery == 1 {
		s.publishCPU()
	}
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
	w.settle(time.Since(start))
	s.publishCPU() // woken, perhaps on another CPU
	return nil
}

// idleAfter is how many times its spin a wait must last for the waiter to
// take its peer for idle. At 1 (the first version) a client whose
// signatures took a little over the spin on a loaded machine spun an
// eighth of it the next time, slept, and so kept taking more than the spin:
// every call then paid the doorbell's wake-up.
const idleAfter = 4

// settle records how long a wait lasted (it slept: the spin did not meet it).
func (w *Waiter) settle(waited time.Duration) { w.short = waited > idleAfter*w.Spin }

// spin busy-waits for a new sequence until until, giving its Go processor
// away now and then (goschedEvery) and, for an Apart waiter, moving off
// its peer's CPU.
func (w *Waiter) spin(s *Slot, last uint32, until time.Time) bool {
	start := time.Now()
	nextGosched := start.Add(goschedEvery)
	apartAt, apart := start.Add(apartAfter), w.Apart
	for i := 1; ; i++ {
		if atomic.LoadUint32(s.seq) != last {
			return true
		}
		if i%64 != 0 {
			continue
		}
		now := time.Now()
		if !now.Before(until) {
			return false
		}
		if apart && !now.Before(apartAt) {
			apart = false
			w.moveApart(s, now)
		}
		if !now.Before(nextGosched) {
			runtime.Gosched()
			nextGosched = now.Add(goschedEvery)
		}
	}
}

// moveApart moves the thread off the CPU its peer last reported, when it
// runs there too, at most once every apartEvery (the peer's word may be
// stale; with as many busy peers as CPUs there is nowhere better to go).
// A thread that stays on its peer's CPU (it cannot move) spins on until
// its spin ends: sleeping at once instead was slower (the word, refreshed
// every publishEvery waits, is often stale, and a sleep costs a wake-up of
// tens of µs here; TestSignClients, 21:32). A hostile peer's word costs
// this side at most a move a millisecond.
func (w *Waiter) moveApart(s *Slot, now time.Time) {
	if now.Sub(w.moved) < apartEvery {
		return
	}
	c, ok := cpuNow()
	if !ok || c != s.peerLastCPU() {
		return
	}
	w.moved = now
	if moveOff(c) {
		w.Moved.Add(1)
	}
}
