package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// previousRelease is a node of the release before the bus stream, as it
// shows itself on NATS: a registry entry without a protocol, the core
// subjects rampart.rampart.<kind> for what names a device, and used
// nonces in the nonce bucket. (Its code is gone from this tree; its wire
// format is what this reproduces: git show a44af99^:fleet/cluster.)
type previousRelease struct {
	t      *testing.T
	nc     *nats.Conn
	nodes  jetstream.KeyValue
	nonces jetstream.KeyValue
	stop   chan struct{}
	done   chan struct{}

	mu  sync.Mutex
	got map[string][]string // kind -> devices received on core NATS
}

// startPreviousRelease joins c as node name of the previous release; it
// heartbeats until leave.
func startPreviousRelease(t *testing.T, c *natstest.Cluster, name string) *previousRelease {
	t.Helper()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	p := &previousRelease{t: t, nc: nc, stop: make(chan struct{}), done: make(chan struct{}), got: map[string][]string{}}
	if p.nodes, err = js.KeyValue(ctx, "rampart-nodes"); err != nil {
		t.Fatal(err)
	}
	if p.nonces, err = js.KeyValue(ctx, "rampart-nonces"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{cluster.SubjectJobs, cluster.SubjectDisconnect, cluster.SubjectSuperseded} {
		_, err := nc.Subscribe("rampart.rampart."+kind, func(m *nats.Msg) {
			var v struct{ Device string }
			json.Unmarshal(m.Data, &v)
			p.mu.Lock()
			p.got[kind] = append(p.got[kind], v.Device)
			p.mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	entry, _ := json.Marshal(map[string]any{"name": name, "version": "previous (schema 7)", "started": time.Now(), "heartbeat": time.Now()})
	beat := func() {
		if _, err := p.nodes.Put(ctx, name, entry); err != nil {
			t.Errorf("previous release heartbeat: %v", err)
		}
	}
	beat()
	go func() {
		defer close(p.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-p.stop:
				p.nodes.Delete(ctx, name)
				return
			case <-tk.C:
				beat()
			}
		}
	}()
	t.Cleanup(p.leave)
	return p
}

func (p *previousRelease) leave() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		<-p.done
	}
}

func (p *previousRelease) received(kind, device string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.got[kind] {
		if d == device {
			return true
		}
	}
	return false
}

// TestPreviousReleaseGetsBusMessages: while a node of the previous
// release is live, what a node of this release sends on the bus stream
// (a job, a disconnect, a superseded certificate) reaches it on the core
// subjects it reads, and a node of this release applies each once (it
// skips the copy); what the previous release sends reaches this one. Once
// it leaves, nothing more is copied. Fails on the code before mixed.go:
// jobs flowed from old nodes to new ones only.
func TestPreviousReleaseGetsBusMessages(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	var mu sync.Mutex
	jobsAtB := map[string]int{}
	if err := b.OnJob(func(id string, _ []byte, _ time.Time) { mu.Lock(); jobsAtB[id]++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if a.OlderLive() {
		t.Fatal("a sees a node of the previous release in a cluster of this one")
	}
	old := startPreviousRelease(t, c, "old")
	eventually(t, 5*time.Second, "a and b see the previous release's node", func() bool { return a.OlderLive() && b.OlderLive() })

	exp := time.Now().Add(time.Hour)
	if err := a.Job("dev-1", []byte("job"), exp); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect("dev-2", "revoked"); err != nil {
		t.Fatal(err)
	}
	if err := a.Superseded("dev-3", "serial", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the previous release's node receives the job, the disconnect and the superseded certificate", func() bool {
		return old.received(cluster.SubjectJobs, "dev-1") && old.received(cluster.SubjectDisconnect, "dev-2") && old.received(cluster.SubjectSuperseded, "dev-3")
	})
	eventually(t, 5*time.Second, "b applies a's job", func() bool { mu.Lock(); defer mu.Unlock(); return jobsAtB["dev-1"] > 0 })
	// What the previous release sends (core, no copy mark) reaches b.
	msg, _ := json.Marshal(map[string]any{"from": "old", "device": "dev-4", "payload": []byte("old job"), "expires": exp})
	if err := old.nc.Publish("rampart.rampart."+cluster.SubjectJobs, msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b applies the previous release's job", func() bool { mu.Lock(); defer mu.Unlock(); return jobsAtB["dev-4"] > 0 })
	time.Sleep(500 * time.Millisecond) // a duplicate would have arrived by now
	mu.Lock()
	if jobsAtB["dev-1"] != 1 || jobsAtB["dev-4"] != 1 {
		t.Errorf("jobs applied at b: %v, want each once", jobsAtB)
	}
	mu.Unlock()

	old.leave()
	eventually(t, 10*time.Second, "a counts the previous release's node out", func() bool { return !a.OlderLive() })
	if err := a.Job("dev-5", []byte("job"), exp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b applies a's job", func() bool { mu.Lock(); defer mu.Unlock(); return jobsAtB["dev-5"] > 0 })
	if old.received(cluster.SubjectJobs, "dev-5") {
		t.Error("a job copied to core NATS with no node of the previous release live")
	}
}

// TestNonceSingleAcrossReleases: while a node of the previous release is
// live, a nonce is used once across both releases: one this release used
// (UseOnceWithOlder) is refused by the previous release's bucket, and one
// the previous release used is refused here. With no such node, nothing
// is recorded in the bucket (no round trip: the store records the use).
func TestNonceSingleAcrossReleases(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	ctx := context.Background()
	if err := a.UseOnceWithOlder(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	old := startPreviousRelease(t, c, "old")
	if _, err := old.nonces.Get(ctx, "k0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("k0 in the nonce bucket with no previous release live: %v", err)
	}
	eventually(t, 5*time.Second, "a sees the previous release's node", a.OlderLive)
	if err := a.UseOnceWithOlder(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.nonces.Create(ctx, "k1", nil); err == nil {
		t.Error("the previous release accepts a nonce this release used")
	}
	if _, err := old.nonces.Create(ctx, "k2", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.UseOnceWithOlder(ctx, "k2"); !errors.Is(err, cluster.ErrUsed) {
		t.Errorf("a nonce the previous release used: %v, want ErrUsed", err)
	}
}
