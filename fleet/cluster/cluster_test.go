package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// join connects node name to the test cluster c, closed at the end.
func join(t *testing.T, c *natstest.Cluster, name string, replicas int, urls ...string) *cluster.Node {
	t.Helper()
	if len(urls) == 0 {
		urls = c.URLs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := cluster.Connect(ctx, cluster.Config{URLs: urls, Node: name, Version: "test", Replicas: replicas,
		MQTT: []string{name + ":8883"}, Heartbeat: 100 * time.Millisecond,
		Devices: func() int64 { return int64(len(name)) }, Leases: func() []string { return []string{"lease-" + name} }})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRegistryAndLiveCount(t *testing.T) {
	c := natstest.Start(t, 3)
	// Each node connects through a different server of the cluster.
	urls := c.URLs()
	a := join(t, c, "a", 3, urls[0])
	b := join(t, c, "b", 3, urls[1])
	cc := join(t, c, "c", 3, urls[2])
	ctx := context.Background()
	eventually(t, 5*time.Second, "three live nodes seen by each", func() bool {
		return a.Live() == 3 && b.Live() == 3 && cc.Live() == 3
	})
	var nodes []cluster.NodeInfo
	eventually(t, 10*time.Second, "b lists a, b and c", func() bool {
		var err error
		nodes, err = b.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(nodes) == 3 && nodes[0].Name == "a" && nodes[2].Name == "c"
	})
	for _, n := range nodes {
		if n.Version != "test" || n.Devices != int64(len(n.Name)) || len(n.Leases) != 1 || n.Leases[0] != "lease-"+n.Name ||
			len(n.MQTT) != 1 || n.Heartbeat.IsZero() || n.Started.IsZero() {
			t.Errorf("entry %+v", n)
		}
	}
	if got := b.MQTTEndpoints(); strings.Join(got, " ") != "b:8883 a:8883 c:8883" {
		t.Fatalf("endpoints seen by b: %v", got)
	}
	// A node that leaves is counted out at once.
	cc.Close()
	eventually(t, 5*time.Second, "two live nodes after c left", func() bool { return a.Live() == 2 && b.Live() == 2 })
	if got := a.MQTTEndpoints(); strings.Join(got, " ") != "a:8883 b:8883" {
		t.Fatalf("endpoints seen by a after c left: %v", got)
	}
}

func TestPresenceGuardedBySessionStart(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(time.Second)
	if err := a.SessionStarted(ctx, "dev/1 é", t0); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := b.Holder(ctx, "dev/1 é"); err != nil || !ok || h != "a" {
		t.Fatalf("holder = %q %v %v, want a", h, ok, err)
	}
	// The device moves to b; a's session then ends late: b's entry stays.
	if err := b.SessionStarted(ctx, "dev/1 é", t1); err != nil {
		t.Fatal(err)
	}
	if err := a.SessionEnded(ctx, "dev/1 é", t0); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := a.Holder(ctx, "dev/1 é"); !ok || h != "b" {
		t.Fatalf("after a stale end: holder %q %v, want b", h, ok)
	}
	// b's own end of an older session of its own does not remove it either.
	if err := b.SessionEnded(ctx, "dev/1 é", t0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Holder(ctx, "dev/1 é"); !ok {
		t.Fatal("an older session's end removed the entry")
	}
	if err := b.SessionEnded(ctx, "dev/1 é", t1); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := a.Holder(ctx, "dev/1 é"); ok {
		t.Fatalf("after the end: holder %q", h)
	}
	// A holder that has left holds nothing.
	if err := b.SessionStarted(ctx, "dev2", t1); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if h, ok, _ := a.Holder(ctx, "dev2"); ok {
		t.Fatalf("a departed node still holds dev2: %q", h)
	}
}

func TestUseOnceAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	urls := c.URLs()
	a := join(t, c, "a", 3, urls[0])
	b := join(t, c, "b", 3, urls[2])
	ctx := context.Background()
	// Many nodes racing for the same keys: exactly one wins each.
	const keys = 50
	var wins [keys]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range []*cluster.Node{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				err := n.UseOnce(ctx, fmt.Sprintf("k%d", k))
				switch {
				case err == nil:
					mu.Lock()
					wins[k]++
					mu.Unlock()
				case !errors.Is(err, cluster.ErrUsed):
					t.Errorf("UseOnce: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for k, w := range wins {
		if w != 1 {
			t.Errorf("key %d used %d times", k, w)
		}
	}
}

func TestMessagesReachOtherNodesOnly(t *testing.T) {
	c := natstest.Start(t, 3)
	urls := c.URLs()
	a := join(t, c, "a", 3, urls[0])
	b := join(t, c, "b", 3, urls[1])
	type got struct{ node, kind, device, detail string }
	ch := make(chan got, 16)
	for _, n := range []*cluster.Node{a, b} {
		name := n.Name()
		if err := n.OnDisconnect(func(d, r string) { ch <- got{name, "disconnect", d, r} }); err != nil {
			t.Fatal(err)
		}
		if err := n.OnJob(func(d string, p []byte, exp time.Time) {
			if !bytes.Equal(p, []byte("job")) || !exp.Equal(time.Unix(4000000000, 0)) {
				t.Errorf("job payload %q expires %v", p, exp)
			}
			ch <- got{name, "job", d, ""}
		}); err != nil {
			t.Fatal(err)
		}
		if err := n.OnChanged(func(w string) { ch <- got{name, "changed", "", w} }); err != nil {
			t.Fatal(err)
		}
	}
	// A subscription reaches the other servers of the NATS cluster a
	// moment after the subscribing node's own server has it: until then a
	// message published through another server finds no interest. So
	// each message is sent again until it arrives (they are idempotent),
	// and the nodes' own copies are looked for after.
	sends := map[got]func() error{
		{"b", "disconnect", "d1", "revoked"}: func() error { return a.Disconnect("d1", "revoked") },
		{"a", "job", "d2", ""}:               func() error { return b.Job("d2", []byte("job"), time.Unix(4000000000, 0)) },
		{"b", "changed", "", "trust"}:        func() error { return a.Changed("trust") },
	}
	deadline := time.Now().Add(20 * time.Second)
	for want, send := range sends {
		for arrived := false; !arrived; {
			if err := send(); err != nil {
				t.Fatal(err)
			}
			select {
			case g := <-ch:
				if _, ok := sends[g]; !ok {
					t.Fatalf("unexpected %+v", g)
				}
				arrived = g == want
			case <-time.After(200 * time.Millisecond):
			}
			if !arrived && time.Now().After(deadline) {
				t.Fatalf("%+v never arrived", want)
			}
		}
	}
	// Drain the repeats; none may be a node's own message.
	for {
		select {
		case g := <-ch:
			if _, ok := sends[g]; !ok {
				t.Fatalf("a node received its own message: %+v", g)
			}
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// TestSurvivesLossOfAServer: with three replicas, the buckets stay usable
// when the server leading the nonce bucket's stream stops.
func TestSurvivesLossOfAServer(t *testing.T) {
	c := natstest.Start(t, 3)
	a := join(t, c, "a", 3)
	ctx := context.Background()
	if err := a.UseOnce(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	leader := c.WaitStreamLeader("KV_rampart-nonces", 30*time.Second)
	if leader < 0 {
		t.Fatal("no stream leader within 30 s")
	}
	c.Stop(leader)
	eventually(t, 20*time.Second, "a key used after the leader stopped", func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return a.UseOnce(cctx, "after") == nil
	})
	if err := a.UseOnce(ctx, "before"); !errors.Is(err, cluster.ErrUsed) {
		t.Fatalf("a key used before the loss: %v, want ErrUsed", err)
	}
}

// TestHostileBusMessagesDropped: any client of the NATS cluster can
// publish on the nodes' subjects. A message over the bus limit, one that
// is not JSON, and a device message naming no device (or an over-long
// one) never reach the node's handler; a well-formed one does.
func TestHostileBusMessagesDropped(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	got := make(chan string, 8)
	if err := a.OnDisconnect(func(d, r string) { got <- d }); err != nil {
		t.Fatal(err)
	}
	raw, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	subject := "rampart.rampart." + cluster.SubjectDisconnect
	for _, m := range [][]byte{
		[]byte(`{"from":"x","device":"big","reason":"` + strings.Repeat("r", 20<<10) + `"}`),
		[]byte(`not json`),
		[]byte(`{"from":"x","reason":"no device"}`),
		[]byte(`{"from":"x","device":"` + strings.Repeat("d", 300) + `"}`),
		[]byte(`{"from":"x","device":"good","reason":"revoked"}`),
	} {
		if err := raw.Publish(subject, m); err != nil {
			t.Fatal(err)
		}
	}
	// On the bus stream (bus.go), a message must also name the device
	// its subject names.
	busSubject := func(d string) string { return subject + "." + fmt.Sprintf("%x", d) }
	for subj, m := range map[string]string{
		busSubject("other"): `{"from":"x","device":"good","reason":"revoked"}`,
		subject + ".zz":     `{"from":"x","device":"zz","reason":"revoked"}`,
	} {
		if err := raw.Publish(subj, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Publish(busSubject("good2"), []byte(`{"from":"x","device":"good2","reason":"revoked"}`)); err != nil {
		t.Fatal(err)
	}
	raw.Flush()
	want := map[string]bool{"good": true, "good2": true}
	for len(want) > 0 {
		select {
		case d := <-got:
			if !want[d] {
				t.Fatalf("a hostile message reached the handler: device %q", d)
			}
			delete(want, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("the well-formed messages %v never arrived", want)
		}
	}
	select {
	case d := <-got:
		t.Fatalf("a second message reached the handler: %q", d)
	case <-time.After(300 * time.Millisecond):
	}
}
