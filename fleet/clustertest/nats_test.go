package clustertest

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// natsCluster is a NATS cluster with JetStream run in the test process, each
// server on loopback ports the test picked (kept across a restart).
type natsCluster struct {
	t       testing.TB
	mu      sync.Mutex
	servers []*natsserver.Server
	opts    []*natsserver.Options
}

// startNATS starts n clustered NATS servers with JetStream and waits until
// they elected a meta leader; they shut down when the test ends.
func startNATS(t testing.TB, n int) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{t: t}
	clientAddrs, routeAddrs := make([]string, n), make([]string, n)
	for i := range n {
		clientAddrs[i], routeAddrs[i] = freePort(t), freePort(t)
	}
	var routes []*url.URL
	for _, a := range routeAddrs {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: a})
	}
	for i := range n {
		host, port := splitHostPort(t, clientAddrs[i])
		rhost, rport := splitHostPort(t, routeAddrs[i])
		c.opts = append(c.opts, &natsserver.Options{
			ServerName: fmt.Sprintf("nats%d", i),
			Host:       host, Port: port,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("nats%d", i)),
			Cluster: natsserver.ClusterOpts{Name: "rampart-ct", Host: rhost, Port: rport},
			Routes:  routes,
			NoLog:   true, NoSigs: true,
		})
		c.servers = append(c.servers, nil)
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(c.shutdown)
	if !c.waitFormed(n, 30*time.Second) {
		t.Fatalf("nats: the %d servers did not form a JetStream cluster with a meta leader within 30s", n)
	}
	return c
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	u, err := url.Parse("tcp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(u.Port(), &port)
	return u.Hostname(), port
}

// start (re)starts server i on its ports and store directory.
func (c *natsCluster) start(i int) {
	o := *c.opts[i]
	s, err := natsserver.NewServer(&o)
	if err != nil {
		c.t.Fatalf("nats%d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("nats%d: not ready for connections within 20s", i)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

// URLs are the client URLs of every server (a node's cluster.nats list).
func (c *natsCluster) URLs() []string {
	var out []string
	for _, o := range c.opts {
		out = append(out, fmt.Sprintf("nats://%s:%d", o.Host, o.Port))
	}
	return out
}

// kill stops server i at once (its clients see the connection drop).
func (c *natsCluster) kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (c *natsCluster) shutdown() {
	for i := range c.servers {
		c.kill(i)
	}
}

// running returns the servers that run, by index.
func (c *natsCluster) running() map[int]*natsserver.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]*natsserver.Server{}
	for i, s := range c.servers {
		if s != nil {
			out[i] = s
		}
	}
	return out
}

// metaLeader is the index of the JetStream meta leader (-1 if none now).
func (c *natsCluster) metaLeader() int {
	for i, s := range c.running() {
		if s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

func (c *natsCluster) waitMetaLeader(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if i := c.metaLeader(); i >= 0 {
			return i
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1
}

// waitFormed waits until a meta leader leads a group of n peers, every
// one of them current and seen by every running server: only then does
// the loss of one server leave a quorum that elects another leader.
func (c *natsCluster) waitFormed(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok := c.metaLeader() >= 0
		for _, s := range c.running() {
			info, err := s.Jsz(nil)
			if err != nil || info.Meta == nil || info.Meta.Leader == "" || info.Meta.Size != n || s.NumRoutes() < n-1 {
				ok = false
				break
			}
			if s.JetStreamIsLeader() {
				cur := 0
				for _, r := range info.Meta.Replicas {
					if r.Current {
						cur++
					}
				}
				ok = ok && cur == n-1
			}
		}
		if ok {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// streams lists every JetStream stream of the global account (the KV
// buckets are streams named KV_<bucket>), sorted.
func (c *natsCluster) streams() []string {
	seen := map[string]bool{}
	for _, s := range c.running() {
		info, err := s.Jsz(&natsserver.JSzOptions{Accounts: true, Streams: true})
		if err != nil {
			continue
		}
		for _, a := range info.AccountDetails {
			for _, sd := range a.Streams {
				seen[sd.Name] = true
			}
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// streamLeader is the index of the server leading stream (in the global
// account), -1 if none now.
func (c *natsCluster) streamLeader(stream string) int {
	for i, s := range c.running() {
		if s.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// busiestLeader is the server leading the most streams (ties: the meta
// leader first), and the streams it leads: the server whose loss costs the
// cluster the most elections.
func (c *natsCluster) busiestLeader() (int, []string) {
	led := map[int][]string{}
	for _, st := range c.streams() {
		if i := c.streamLeader(st); i >= 0 {
			led[i] = append(led[i], st)
		}
	}
	best, meta := -1, c.metaLeader()
	for i := range c.running() {
		if best < 0 || len(led[i]) > len(led[best]) || len(led[i]) == len(led[best]) && i == meta {
			best = i
		}
	}
	return best, led[best]
}

func TestNATSClusterElectsAndSurvivesLeaderLoss(t *testing.T) {
	c := startNATS(t, 3)
	lead := c.metaLeader()
	if lead < 0 {
		t.Fatal("no meta leader")
	}
	c.kill(lead)
	if i := c.waitMetaLeader(30 * time.Second); i < 0 || i == lead {
		t.Fatalf("after killing meta leader nats%d: leader %d", lead, i)
	}
	c.start(lead)
	if !c.waitFormed(3, 30*time.Second) {
		t.Fatalf("nats%d restarted: the cluster did not form again within 30s", lead)
	}
}
