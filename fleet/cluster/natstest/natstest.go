// Package natstest starts NATS servers with JetStream inside a test
// process, from the nats-server Go module: one server, or a cluster of
// three whose members can be stopped and restarted on the same ports.
//
// It is for tests only: nothing outside _test.go files (and the test
// harness fleet/clustertest) may import it, so that the nats-server module
// is never linked into the rampart binary (internal/repocheck).
package natstest

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a set of in-process NATS servers routed to each other.
type Cluster struct {
	t       testing.TB
	Name    string
	opts    []*server.Options
	Servers []*server.Server // nil while stopped
}

// freePorts reserves n loopback TCP ports and releases them: the servers
// bind them right after (another process taking one in between fails the
// start, loudly).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: reserve port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Start starts n servers (1 alone, 3 as a JetStream cluster) on loopback
// ports it picks, each with its own store in a temporary directory, and
// stops them when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, nil)
}

// StartWith is Start with configure applied to each server's options
// before it starts (authentication, TLS).
func StartWith(t testing.TB, n int, configure func(*server.Options)) *Cluster {
	t.Helper()
	if n < 1 {
		n = 1
	}
	ports := freePorts(t, 2*n)
	c := &Cluster{t: t, Name: "rampart-test"}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			MaxPayload: 4 << 20,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: c.Name, Host: "127.0.0.1", Port: ports[n+i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		if configure != nil {
			configure(o)
		}
		c.opts = append(c.opts, o)
		c.Servers = append(c.Servers, nil)
	}
	for i := range n {
		c.Restart(i)
	}
	t.Cleanup(c.Shutdown)
	c.WaitJetStream(30 * time.Second)
	return c
}

// Restart starts server i again (after Stop) with its options and store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatalf("natstest: server %d: %v", i, err)
	}
	if !c.opts[i].NoLog {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("natstest: server %d not ready", i)
	}
	c.Servers[i] = s
}

// Stop shuts server i down (its store stays for Restart).
func (c *Cluster) Stop(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.Servers {
		c.Stop(i)
	}
}

// URLs are the client URLs of every server (running or not).
func (c *Cluster) URLs() []string {
	var u []string
	for _, o := range c.opts {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return u
}

// MetaLeader is the index of the server leading the JetStream meta group,
// or -1.
func (c *Cluster) MetaLeader() int {
	for i, s := range c.Servers {
		if s != nil && s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// WaitJetStream waits until JetStream is usable: a meta leader elected
// when clustered, enabled when alone.
func (c *Cluster) WaitJetStream(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(c.Servers) == 1 {
			if c.Servers[0] != nil && c.Servers[0].JetStreamEnabled() {
				return
			}
		} else if c.MetaLeader() >= 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("natstest: JetStream not ready within %v", d)
}

// StreamLeader is the index of the server leading stream (in the default
// account; a KV bucket B is the stream KV_B), or -1.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.Servers {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits up to d for a running server to lead stream and
// returns its index, or -1. A raft group notices a dead leader only after
// its election timeout (nats-server draws it between 4 and 9 s), so a
// leader is looked for over time, not at one instant.
func (c *Cluster) WaitStreamLeader(stream string, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		if i := c.StreamLeader(stream); i >= 0 || !time.Now().Before(deadline) {
			return i
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitLeaders reports whether, within d, every stream has a leader
// among the running servers (after a server stopped or restarted, each
// raft group elects one only after its election timeout).
func (c *Cluster) WaitLeaders(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		all := true
		for _, st := range c.Streams() {
			if c.StreamLeader(st) < 0 {
				all = false
				break
			}
		}
		if all || !time.Now().Before(deadline) {
			return all
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitMetaLeader waits up to d for a running server to lead the meta
// group and returns its index, or -1.
func (c *Cluster) WaitMetaLeader(d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		if i := c.MetaLeader(); i >= 0 || !time.Now().Before(deadline) {
			return i
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFormed reports whether, within d, a meta leader leads a group of
// every configured server, each current and routed to all the others:
// only then does the loss of one server leave a quorum that elects
// another leader (a cluster whose JetStream merely answers may not be
// there yet).
func (c *Cluster) WaitFormed(d time.Duration) bool {
	n := len(c.opts)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.formed(n) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func (c *Cluster) formed(n int) bool {
	if c.MetaLeader() < 0 {
		return false
	}
	for _, s := range c.Servers {
		if s == nil {
			return false
		}
		info, err := s.Jsz(nil)
		if err != nil || info.Meta == nil || info.Meta.Leader == "" || info.Meta.Size != n || s.NumRoutes() < n-1 {
			return false
		}
		if s.JetStreamIsLeader() {
			cur := 0
			for _, r := range info.Meta.Replicas {
				if r.Current {
					cur++
				}
			}
			if cur != n-1 {
				return false
			}
		}
	}
	return true
}

// Streams lists every JetStream stream of the default account (a KV
// bucket B is the stream KV_B), sorted.
func (c *Cluster) Streams() []string {
	seen := map[string]bool{}
	for _, s := range c.Servers {
		if s == nil {
			continue
		}
		info, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
		if err != nil {
			continue
		}
		for _, a := range info.AccountDetails {
			for _, sd := range a.Streams {
				seen[sd.Name] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BusiestLeader is the running server leading the most streams (ties:
// the meta leader first) and the streams it leads: the server whose loss
// costs the cluster the most elections.
func (c *Cluster) BusiestLeader() (int, []string) {
	led := map[int][]string{}
	for _, st := range c.Streams() {
		if i := c.StreamLeader(st); i >= 0 {
			led[i] = append(led[i], st)
		}
	}
	best, meta := -1, c.MetaLeader()
	for i, s := range c.Servers {
		if s == nil {
			continue
		}
		if best < 0 || len(led[i]) > len(led[best]) || len(led[i]) == len(led[best]) && i == meta {
			best = i
		}
	}
	return best, led[best]
}
