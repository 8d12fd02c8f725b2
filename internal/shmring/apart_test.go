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
	if !w.moveApart(s, now) {
		t.Fatal("moved, but not worth spinning on")
	}
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
	if w.moveApart(s, now.Add(apartEvery/2)) || w.Moved.Load() != 1 {
		t.Fatal("moved twice within apartEvery, or spins on the peer's CPU")
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
	if !w.moveApart(s, time.Now()) || w.Moved.Load() != 0 {
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
