//go:build linux

package shmring

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An Apart waiter that finds itself on the CPU its peer reported moves
// its thread to another CPU, leaves the thread's affinity as it was, and
// does not move again within apartEvery.
func TestMoveApart(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	if before.Count() < 2 {
		t.Skip("one CPU allowed: nowhere to move")
	}
	cli, _ := pair(t, 1)
	s := cli.Lanes()[0].Rep
	w := &Waiter{Apart: true}
	c, ok := cpuNow()
	if !ok {
		t.Fatal("getcpu failed")
	}
	atomic.StoreUint32(s.peerCPU, uint32(c)+1)
	now := time.Now()
	w.moveApart(s, now)
	if got, _ := cpuNow(); got == c || w.Moved.Load() != 1 {
		t.Fatalf("still on CPU %d after a move off it (moves %d)", got, w.Moved.Load())
	}
	var after unix.CPUSet
	unix.SchedGetaffinity(0, &after)
	if after != before {
		t.Fatal("the thread's affinity changed")
	}
	c, _ = cpuNow()
	atomic.StoreUint32(s.peerCPU, uint32(c)+1)
	w.moveApart(s, now.Add(apartEvery/2))
	if w.Moved.Load() != 1 {
		t.Fatal("moved twice within apartEvery")
	}
}

// A waiter that is not Apart, or whose peer is on another CPU, stays.
func TestNoMoveWhenApart(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cli, _ := pair(t, 1)
	s := cli.Lanes()[0].Rep
	c, _ := cpuNow()
	atomic.StoreUint32(s.peerCPU, uint32(c)+2) // another CPU (or none)
	w := &Waiter{Apart: true}
	w.moveApart(s, time.Now())
	if w.Moved.Load() != 0 {
		t.Fatal("moved though the peer is elsewhere")
	}
}

// A reader publishes its CPU for the other side: the client's Rep slot
// sees what the server's Take on Req wrote.
func TestReaderPublishesCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, _ := cpuNow()
	var all, one unix.CPUSet
	unix.SchedGetaffinity(0, &all)
	one.Set(c)
	if err := unix.SchedSetaffinity(0, &one); err != nil { // no migration during the test
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &all)
	cli, srv := pair(t, 1)
	go func() { // once the server sleeps: it waited, and published on waking
		for atomic.LoadUint32(cli.Lanes()[0].Req.sleeping) == 0 {
			time.Sleep(time.Millisecond)
		}
		cli.Lanes()[0].Req.Put([]byte("x"))
	}()
	if _, _, err := srv.Lanes()[0].Req.Take(0, nil, NewWaiter(0), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := cli.Lanes()[0].Rep.peerLastCPU(); got != c {
		t.Fatalf("peer's CPU %d, the server runs on %d", got, c)
	}
}

// A wait that lasted a little more than the spin keeps the whole spin for
// the next one; only a peer idle for several spins cuts it to an eighth.
func TestSettle(t *testing.T) {
	w := NewWaiter(50 * time.Microsecond)
	for _, c := range []struct {
		waited time.Duration
		short  bool
	}{{30 * time.Microsecond, false}, {80 * time.Microsecond, false}, {150 * time.Microsecond, false}, {250 * time.Microsecond, true}, {40 * time.Microsecond, false}} {
		w.settle(c.waited)
		if w.short != c.short {
			t.Errorf("after a wait of %v: short %v, want %v", c.waited, w.short, c.short)
		}
	}
}
