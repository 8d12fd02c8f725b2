package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rampart/fleet/cluster"
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

// TestSessionsChangedBatch: a batch of presence changes is coalesced (a
// session that started and ended within it is never written, a stale end
// is ignored), and an end deletes only the entry this node wrote: another
// node's newer entry stays.
func TestSessionsChangedBatch(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	ctx := context.Background()
	t0, t1, t2 := time.Unix(1000, 0), time.Unix(1001, 0), time.Unix(1002, 0)
	up := func(d string, at time.Time) cluster.PresenceChange {
		return cluster.PresenceChange{Device: d, Started: at, Up: true}
	}
	down := func(d string, at time.Time) cluster.PresenceChange {
		return cluster.PresenceChange{Device: d, Started: at}
	}
	js, _ := jetstream.New(a.Conn())
	stream, err := js.Stream(ctx, "KV_rampart-presence")
	if err != nil {
		t.Fatal(err)
	}
	written := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	holder := func(d string) string {
		h, ok, err := b.Holder(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return h
	}
	if err := a.SessionsChanged(ctx, []cluster.PresenceChange{up("d1", t1), up("d2", t1), down("d2", t1), up("d3", t1)}); err != nil {
		t.Fatal(err)
	}
	if w := written(); w != 2 || holder("d1") != "a" || holder("d2") != "" || holder("d3") != "a" {
		t.Fatalf("after the first batch: %d writes (want 2: d2 came and went), d1 %q d2 %q d3 %q", w, holder("d1"), holder("d2"), holder("d3"))
	}
	if err := a.SessionsChanged(ctx, []cluster.PresenceChange{down("d1", t0), up("d3", t2)}); err != nil {
		t.Fatal(err)
	}
	if holder("d1") != "a" {
		t.Fatal("a stale end removed d1's entry")
	}
	if err := a.SessionsChanged(ctx, []cluster.PresenceChange{down("d1", t1)}); err != nil {
		t.Fatal(err)
	}
	if holder("d1") != "" {
		t.Fatal("d1's end left its entry")
	}
	// d3 moves to b; a's end of its own session comes late.
	if err := b.SessionStarted(ctx, "d3", t2.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.SessionsChanged(ctx, []cluster.PresenceChange{down("d3", t2)}); err != nil {
		t.Fatal(err)
	}
	if h := holder("d3"); h != "b" {
		t.Fatalf("a's late end removed b's entry: holder %q", h)
	}
}

// TestDisconnectWithoutQuorum: with two of three NATS servers down the bus
// stream has no quorum; a disconnect still reaches the other node, on core
// NATS, within a few seconds, and the call returns without error.
func TestDisconnectWithoutQuorum(t *testing.T) {
	c := natstest.Start(t, 3)
	if !c.WaitFormed(30 * time.Second) {
		t.Fatal("NATS cluster not formed")
	}
	urls := c.URLs()
	a := join(t, c, "a", 3, urls[0])
	b := join(t, c, "b", 3, urls[0])
	got := make(chan string, 4)
	if err := b.OnDisconnect(func(d, _ string) { got <- d }); err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	c.Stop(2)
	start := time.Now()
	if err := a.Disconnect("dev-q", "revoked"); err != nil {
		t.Fatalf("disconnect without quorum: %v", err)
	}
	select {
	case d := <-got:
		if d != "dev-q" {
			t.Fatalf("got %q", d)
		}
		t.Logf("delivered %v after the call began", time.Since(start).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the disconnect never reached b")
	}
}

// TestBusMessageKeptUntilStored: a job the bus stream refuses for longer
// than busPublishFor (here: the stream is gone, "no response from
// stream", until a node joining creates it again) is kept and published
// again until the stream stores it; of two jobs for one device queued
// meanwhile, the later is the one stored. Fails on the code that dropped
// the message with a warning after busPublishFor.
func TestBusMessageKeptUntilStored(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	ctx := context.Background()
	js, _ := jetstream.New(a.Conn())
	if err := js.DeleteStream(ctx, "rampart-bus"); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, j := range [][2]string{{"dev-k", "job"}, {"dev-s", "first"}, {"dev-s", "second"}} {
		if err := a.Job(j[0], []byte(j[1]), exp); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(12 * time.Second) // past busPublishFor: the old sender gave up here
	join(t, c, "b", 1)           // creates the bus stream again
	stored := func(dev string) string {
		st, err := js.Stream(ctx, "rampart-bus")
		if err != nil {
			return ""
		}
		m, err := st.GetLastMsgForSubject(ctx, fmt.Sprintf("rampart.rampart.jobs.%x", dev))
		if err != nil {
			return ""
		}
		var v struct{ Payload []byte }
		json.Unmarshal(m.Data, &v)
		return string(v.Payload)
	}
	eventually(t, 15*time.Second, "the jobs queued while the stream refused them are stored", func() bool {
		return stored("dev-k") == "job" && stored("dev-s") == "second"
	})
}
