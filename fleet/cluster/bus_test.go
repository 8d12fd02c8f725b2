package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rampart/fleet/cluster/natstest"
)

// TestBusSurvivesConnectionMove: node b's NATS server is stopped while
// node a publishes jobs and disconnects for many devices; b's connection
// moves to another server, and b still receives every one of them, once.
// With core NATS publish (at most once) the messages sent while b was
// reconnecting were lost.
func TestBusSurvivesConnectionMove(t *testing.T) {
	c := natstest.Start(t, 3)
	if !c.WaitFormed(30 * time.Second) {
		t.Fatal("NATS cluster not formed")
	}
	urls := c.URLs()
	b := join(t, c, "b", 3)
	moved := -1
	for i, u := range urls {
		if b.Conn().ConnectedUrl() == u {
			moved = i
		}
	}
	if moved < 0 {
		t.Fatalf("b connected to %s, not one of %v", b.Conn().ConnectedUrl(), urls)
	}
	a := join(t, c, "a", 3, urls[(moved+1)%3]) // a stays on a server that runs
	var mu sync.Mutex
	jobs, disconnects := map[string]int{}, map[string]int{}
	if err := b.OnJob(func(d string, _ []byte, _ time.Time) { mu.Lock(); jobs[d]++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := b.OnDisconnect(func(d, _ string) { mu.Lock(); disconnects[d]++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	const n = 200
	expires := time.Now().Add(time.Hour)
	for i := range n {
		if i == n/4 {
			t.Logf("stopping nats%d, b's server", moved)
			go c.Stop(moved)
		}
		d := fmt.Sprintf("dev-%d", i)
		if err := a.Job(d, []byte("job"), expires); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if err := a.Disconnect(d, "revoked"); err != nil {
			t.Fatalf("disconnect %d: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, 30*time.Second, "b received every job and disconnect", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(jobs) == n && len(disconnects) == n
	})
	if u := b.Conn().ConnectedUrl(); u == urls[moved] {
		t.Fatalf("b still connected to the stopped server %s", u)
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for d, k := range jobs {
		if k != 1 || disconnects[d] != 1 {
			t.Errorf("%s: %d jobs, %d disconnects, want 1 each", d, k, disconnects[d])
		}
	}
}

// TestBusSkipsExpiredJobs: a job stored on the bus past its expiry is not
// handed to the node.
func TestBusSkipsExpiredJobs(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	got := make(chan string, 4)
	if err := b.OnJob(func(d string, _ []byte, _ time.Time) { got <- d }); err != nil {
		t.Fatal(err)
	}
	if err := a.Job("old", []byte("job"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.Job("new", []byte("job"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d != "new" {
			t.Fatalf("got the expired job of %q", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the valid job never arrived")
	}
}

// TestPresenceSweptWhenNodeLeaves: the presence entries of a node that
// left the registry are deleted by the sweeping node (the first by name)
// within a few heartbeats; a live node's stay.
func TestPresenceSweptWhenNodeLeaves(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	ctx := context.Background()
	now := time.Now()
	for _, d := range []string{"d1", "d2", "d3"} {
		if err := b.SessionStarted(ctx, d, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SessionStarted(ctx, "d4", now); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(a.Conn())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "rampart-presence")
	if err != nil {
		t.Fatal(err)
	}
	keys := func() int {
		l, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for range l.Keys() {
			k++
		}
		return k
	}
	if k := keys(); k != 4 {
		t.Fatalf("%d entries, want 4", k)
	}
	b.Close() // leaves the registry, its entries stay behind (as a crash would leave them)
	eventually(t, 10*time.Second, "b's entries swept, a's kept", func() bool { return keys() == 1 })
	if h, ok, err := a.Holder(ctx, "d4"); err != nil || !ok || h != "a" {
		t.Fatalf("a's device: %q %v %v", h, ok, err)
	}
}
