package sim

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"rampart/agent"
)

// TestAgentFollowsDrain: an agent enrolled with one node learns every
// node's MQTT endpoint from its enrollment answer and keeps them (0600,
// with its certificate); when that node drains, the agent is told 0x9C
// naming the other node, reconnects there and goes on publishing.
func TestAgentFollowsDrain(t *testing.T) {
	w := newWorld(t)
	n2, err := w.f.StartNode()
	if err != nil {
		t.Fatal(err)
	}
	d := w.device(t, 0)
	a, stop := runAgent(t, w, d, AgentOptions{})
	defer stop()
	waitFor(t, "telemetry through the first node", func() bool { return a.Published() > 0 && w.f.Server.Broker().Connected() == 1 })
	if got := a.MQTTEndpoints(); !slices.Contains(got, n2.MQTTAddr()) || !slices.Contains(got, w.f.MQTTAddr) {
		t.Fatalf("endpoints %q: want both nodes' (%s, %s)", got, w.f.MQTTAddr, n2.MQTTAddr())
	}
	st, err := os.Stat(filepath.Join(d.agentDir(), agent.StateFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v, want mode 0600", st.Mode(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.f.Server.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	before := a.Published()
	waitFor(t, "the agent on the second node, publishing", func() bool {
		return n2.Broker().Connected() == 1 && a.Published() > before
	})
}

// TestAgentFailsOver: when its node goes away without a word (its
// connections closed, as when the process dies), the agent reconnects to
// the next endpoint it knows.
func TestAgentFailsOver(t *testing.T) {
	w := newWorld(t)
	n2, err := w.f.StartNode()
	if err != nil {
		t.Fatal(err)
	}
	a, stop := runAgent(t, w, w.device(t, 0), AgentOptions{})
	defer stop()
	waitFor(t, "telemetry through the first node", func() bool { return a.Published() > 0 && w.f.Server.Broker().Connected() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.f.Server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	before := a.Published()
	waitFor(t, "the agent on the second node, publishing", func() bool {
		return n2.Broker().Connected() == 1 && a.Published() > before
	})
}

var failoverDevices = flag.Int("failover.devices", 20, "devices moved by TestDrainMovesDevices")

// TestDrainMovesDevices: every device of a draining node reconnects to
// the other node, with the agent's default backoff (200 ms base, full
// jitter); it reports how long the move took (a figure, not a check:
// go test ./sim -run TestDrainMovesDevices -failover.devices 500 -v).
func TestDrainMovesDevices(t *testing.T) {
	w := newWorld(t)
	n2, err := w.f.StartNode()
	if err != nil {
		t.Fatal(err)
	}
	n := *failoverDevices
	stops := make([]func(), 0, n)
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	for i := range n {
		d := w.device(t, i)
		a, err := d.StartAgent(w.f, AgentOptions{Interval: time.Minute, Backoff: agent.Backoff{Max: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		stops = append(stops, func() { cancel(); <-done })
	}
	waitFor(t, "every device on the first node", func() bool { return w.f.Server.Broker().Connected() == int64(n) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	if err := w.f.Server.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	drained := time.Since(began)
	waitFor(t, "every device on the second node", func() bool { return n2.Broker().Connected() == int64(n) })
	t.Logf("%d devices: drained in %v, all connected to the other node %v after the drain began", n, drained.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// TestEnrollFailsOver: a device whose first enrollment URL is a node that
// is down enrolls at the next of its enrollment URLs, and goes on to
// publish.
func TestEnrollFailsOver(t *testing.T) {
	w := newWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close() // nothing listens there any more: connection refused
	w.f.EnrollURL, w.f.EnrollFallbacks = dead, []string{w.f.EnrollURL}
	a, stop := runAgent(t, w, w.device(t, 0), AgentOptions{})
	defer stop()
	waitFor(t, "enrolled at the fallback URL, publishing", func() bool { return a.Published() > 0 })
}

// TestAgentReconnectsDuringUpdate: a device downloading an update when
// its node goes away is connected to the other node while the download
// is still held, not once the update is done; the update then completes,
// its re-attestation going to the other node (an enrollment fallback).
func TestAgentReconnectsDuringUpdate(t *testing.T) {
	w := newWorld(t)
	n2, err := w.f.StartNode()
	if err != nil {
		t.Fatal(err)
	}
	w.f.EnrollFallbacks = []string{n2.EnrollURL()}
	gate := make(chan struct{})
	var gateOnce sync.Once
	release := func() { gateOnce.Do(func() { close(gate) }) }
	held := make(chan struct{}, 1)
	a, stop := runAgent(t, w, w.device(t, 0), AgentOptions{Hooks: &agent.Hooks{DownloadBlock: func(int64) error {
		select {
		case held <- struct{}{}:
		default:
		}
		<-gate
		return nil
	}}})
	defer stop()
	defer release() // before stop: the agent may be held in the download
	waitFor(t, "connected to the first node", func() bool { return a.Connected() && w.f.Server.Broker().Connected() == 1 })
	job := w.f.Host("held-v2", "v2.bin", "2.0.0", w.v2)
	if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the download never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.f.Server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected to the second node while the download is held", func() bool { return n2.Broker().Connected() == 1 })
	release()
	if o := outcome(t, a, job.ID); !o.OK {
		t.Fatalf("outcome %+v", o)
	}
}
