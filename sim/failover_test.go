package sim

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
