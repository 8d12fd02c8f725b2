package campaign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// node is one fleet server's campaign engine: its own connection pool to
// the shared database, its own lease keeper and its own job signer.
type node struct {
	name string
	db   *store.DB
	k    *campaign.Keeper
	e    *campaign.Engine
	dead bool
}

// nodes is a fleet of several engines on one PostgreSQL database, the
// devices' side played by the test: every job any node publishes lands in
// jobs (as the cluster's brokers would deliver it to the device wherever
// it is connected).
type nodes struct {
	b      *bench
	dsn    string
	base   string
	list   []*node
	mu     sync.Mutex
	jobs   map[string][][]byte
	atts   map[string]*attester
	gained map[string]time.Time // node -> when its keeper began a term
}

const nodesBase = "https://fleet.test:8443"

func newNodes(t *testing.T, n, devices int) *nodes {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &bench{db: db, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), jobs: map[string][]byte{}}
	if b.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, db, b.sign(t, "2.0.0"), []any{&b.key.PublicKey}, false, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	b.release = hex.EncodeToString(rel.Component.MeasurementValue)
	c := &nodes{b: b, dsn: dsn, base: nodesBase, jobs: map[string][][]byte{}, atts: map[string]*attester{}, gained: map[string]time.Time{}}
	for i := 0; i < devices; i++ {
		id := fmt.Sprintf("dev-%03d", i)
		c.atts[id] = b.attester(t, id)
	}
	for i := 0; i < n; i++ {
		c.start(t, fmt.Sprintf("node-%d", i))
	}
	return c
}

// start starts a node: keeper and engine with the evaluator's defaults
// (lease renewed every second for three), and a quicker tick.
func (c *nodes) start(t *testing.T, name string) *node {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, c.dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, db: db}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", name)
	n.k = campaign.NewKeeper(db, campaign.LeaseName, name)
	n.k.Log = log
	n.e, err = campaign.New(ctx, campaign.Config{Store: db, KeySecret: c.b.keySecret(), ImageBase: func() string { return c.base }, Jobs: c.b.jobSigner(t),
		Tick: 250 * time.Millisecond, Leader: n.k.Leader, Log: log,
		Publish: func(id string, p []byte, _ time.Time) error {
			if len(p) > 0 {
				c.mu.Lock()
				c.jobs[id] = append(c.jobs[id], p)
				c.mu.Unlock()
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.k.OnAcquire = func(int64) {
		c.mu.Lock()
		c.gained[name] = time.Now()
		c.mu.Unlock()
		n.e.Kick()
	}
	n.k.Start()
	n.e.Start()
	t.Cleanup(func() {
		if !n.dead {
			n.e.Close()
			n.k.Close(true)
			n.db.Close()
		}
	})
	c.list = append(c.list, n)
	return n
}

// kill ends node n as kill -9 would: no write, no lease release.
func (c *nodes) kill(n *node) {
	campaign.Kill(n.e)
	n.k.Close(false)
	n.db.Close()
	n.dead = true
}

// leader waits for the node holding the lease.
func (c *nodes) leader(t *testing.T) *node {
	t.Helper()
	var l *node
	waitFor(t, 15*time.Second, "a leader", func() bool {
		for _, n := range c.list {
			if _, ok := n.k.Leader(); ok && !n.dead {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// others are the living nodes but n.
func (c *nodes) others(n *node) []*node {
	var out []*node
	for _, o := range c.list {
		if o != n && !o.dead {
			out = append(out, o)
		}
	}
	return out
}

func (c *nodes) jobsOf(id string) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.jobs[id]...)
}

// reenroll records an accepted re-enrollment by attestation of device id
// now, as the enrollment service does after an update.
func (c *nodes) reenroll(t *testing.T, id string) {
	t.Helper()
	now := time.Now()
	err := c.b.db.RecordEnrollment(context.Background(), &store.Certificate{Serial: fmt.Sprintf("%x-%s", now.UnixNano(), id), DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}},
		[]store.State{store.Registered, store.Active}, &store.AuditEntry{Actor: "test", Action: "renew", Subject: id, Decision: store.Allow})
	if err != nil {
		t.Fatal(err)
	}
}

// outcome is device id's verified outcome for its job msg.
func (c *nodes) outcome(t *testing.T, id string, msg []byte) []byte {
	t.Helper()
	sj, err := deviceproto.DecodeJob(msg)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := hex.DecodeString(c.b.release)
	o := deviceproto.Outcome{JobID: sj.Job.ID, OK: true, Result: deviceproto.ResultOK, Version: "2.0.0", Token: c.atts[id].token(t, sj.Job.Nonce, digest)}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *nodes) stored(t *testing.T, id string) (map[campaign.Status]int, *store.CampaignRecord) {
	t.Helper()
	ctx := context.Background()
	r, err := c.b.db.Campaign(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.b.db.CampaignDevices(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[campaign.Status]int{}
	for _, d := range rows {
		m[campaign.Status(d.Status)]++
	}
	return m, r
}

// TestNodesFailover: two, then three engines on one PostgreSQL database,
// one evaluating (the campaigns lease). The campaign is created on a node
// that does not evaluate, devices report to the nodes that do not
// evaluate (some to two nodes at once, as a device whose session moved
// would), a device that connects to a node that does not evaluate gets its
// job again, signed by that node. In the middle of the campaign the
// evaluator dies (no write, no lease release): another node takes over
// and the campaign completes, every device verified, each notified once,
// each transition of the campaign recorded once.
func TestNodesFailover(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("several nodes share one PostgreSQL database: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", storetest.EnvPostgres)
	}
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) { testNodesFailover(t, n) })
	}
}

func testNodesFailover(t *testing.T, nodeCount int) {
	const devices = 24
	ctx := context.Background()
	c := newNodes(t, nodeCount, devices)
	lead := c.leader(t)
	other := c.others(lead)[0]
	spec := campaign.Spec{ID: "fleetwide", Release: c.b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 25, FailureThreshold: 1}, {Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 5}
	if _, err := other.e.Create(ctx, spec, "operator"); err != nil {
		t.Fatal(err)
	}
	// The first jobs go out from the evaluator.
	var first string
	waitFor(t, 10*time.Second, "the first jobs", func() bool {
		for id := range c.atts {
			if len(c.jobsOf(id)) > 0 {
				first = id
				return true
			}
		}
		return false
	})
	// The device connects to a node that does not evaluate: its job again,
	// the same (nonce, token), signed by that node's signer.
	waitFor(t, 10*time.Second, "the job published again on connect", func() bool {
		other.e.Connected(first)
		return len(c.jobsOf(first)) > 1
	})
	js := c.jobsOf(first)
	pol := deviceproto.JobPolicy{Roots: testCA(t).Pool(), Device: deviceCert(t, first), EnrollURL: c.base, Now: c.b.clock()}
	j1, err1 := deviceproto.VerifyJob(js[0], pol)
	j2, err2 := deviceproto.VerifyJob(js[len(js)-1], pol)
	if err1 != nil || err2 != nil || string(j1.Nonce) != string(j2.Nonce) || j1.URL != j2.URL {
		t.Fatalf("job published again on connect: %v %v, same challenge %v", err1, err2, string(j1.Nonce) == string(j2.Nonce))
	}
	s1, _ := deviceproto.DecodeJob(js[0])
	s2, _ := deviceproto.DecodeJob(js[len(js)-1])
	if s1.Signer.Equal(s2.Signer) {
		t.Fatal("the job published again on connect is signed by the evaluator, not by the node the device connected to")
	}

	// The devices: each job is taken, the device re-enrolls by attestation
	// and reports, to a node that does not evaluate (every third to two).
	handled := map[string]bool{}
	var kills []time.Time // each evaluator's death
	var reports int
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			counts, r := c.stored(t, spec.ID)
			t.Fatalf("campaign not completed: %s phase %d (%s), devices %v", r.State, r.Phase, r.Reason, counts)
		}
		counts, r := c.stored(t, spec.ID)
		if campaign.State(r.State) == campaign.Completed {
			break
		}
		inFlight := 0
		for id := range c.atts {
			if !handled[id] && len(c.jobsOf(id)) > 0 {
				inFlight++
			}
		}
		// With three nodes the evaluator dies twice: at a third and at
		// two thirds of the devices verified.
		if len(kills) < nodeCount-1 && counts[campaign.Verified] >= (len(kills)+1)*devices/3 && inFlight > 0 {
			// In the middle of the campaign (queued, verified and in
			// flight devices, whose reports reach the survivors), the
			// evaluator dies.
			lead = c.leader(t)
			c.kill(lead)
			kills = append(kills, time.Now())
			t.Logf("evaluator %s killed with devices %v", lead.name, counts)
		}
		for id := range c.atts {
			js := c.jobsOf(id)
			if handled[id] || len(js) == 0 {
				continue
			}
			handled[id] = true
			c.reenroll(t, id)
			out := c.outcome(t, id, js[len(js)-1])
			var to []*node
			for _, n := range c.list {
				if _, ok := n.k.Leader(); !ok && !n.dead {
					to = append(to, n)
				}
			}
			if len(to) == 0 {
				to = c.others(nil)
			}
			reports++
			if reports%3 == 0 && len(c.others(nil)) > 1 {
				to = c.others(nil)[:2] // the same report taken in by two nodes at once
			} else {
				to = to[reports%len(to):][:1]
			}
			var wg sync.WaitGroup
			for _, n := range to {
				wg.Add(1)
				go func() { defer wg.Done(); n.e.Report(ctx, id, out) }()
			}
			wg.Wait()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(kills) != nodeCount-1 {
		t.Fatalf("the campaign completed after %d evaluators were killed, want %d", len(kills), nodeCount-1)
	}
	c.mu.Lock()
	for _, killed := range kills {
		took, by := time.Duration(0), ""
		for name, at := range c.gained {
			if at.After(killed) && (took == 0 || at.Sub(killed) < took) {
				took, by = at.Sub(killed), name
			}
		}
		if took == 0 {
			t.Errorf("no node took the lease over after the evaluator died")
		}
		t.Logf("%s took the lease over %v after the evaluator died", by, took.Round(10*time.Millisecond))
	}
	c.mu.Unlock()

	counts, _ := c.stored(t, spec.ID)
	if counts[campaign.Verified] != devices {
		t.Fatalf("devices %v, want all %d verified", counts, devices)
	}
	// Each device notified once: every job it received carries one
	// challenge.
	for id := range c.atts {
		nonces := map[string]bool{}
		for _, msg := range c.jobsOf(id) {
			sj, err := deviceproto.DecodeJob(msg)
			if err != nil {
				t.Fatal(err)
			}
			nonces[string(sj.Job.Nonce)] = true
		}
		if len(nonces) != 1 {
			t.Errorf("%s was notified %d times", id, len(nonces))
		}
	}
	// Each transition of the campaign recorded once.
	list, err := c.b.db.AuditLog(ctx, store.AuditFilter{Subject: spec.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, a := range list {
		if a.Actor == "campaign" {
			seen[a.Action+" "+a.Reason]++
		}
	}
	if seen["campaign.completed phase 1: "] != 1 || seen["campaign.running phase 1: "] != 1 || len(seen) != 2 {
		t.Fatalf("the evaluator's audited transitions: %v, want the phase change and the completion once each", seen)
	}
	// Every living node tells the same.
	for _, n := range c.others(nil) {
		s, err := n.e.Status(spec.ID, false)
		if err != nil || s.State != campaign.Completed || s.Counts[campaign.Verified] != devices {
			t.Fatalf("%s: %+v %v", n.name, s, err)
		}
	}
}

// TestNewEvaluatorRepublishes: an evaluator that dies right after writing
// a notification may not have sent its job to the other nodes (its
// publish still buffered): the node that takes over publishes the jobs in
// flight again when its term begins, so a device that fails over gets
// its job without reconnecting again.
func TestNewEvaluatorRepublishes(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("several nodes share one PostgreSQL database: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", storetest.EnvPostgres)
	}
	ctx := context.Background()
	c := newNodes(t, 2, 4)
	lead := c.leader(t)
	other := c.others(lead)[0]
	spec := campaign.Spec{ID: "takeover", Release: c.b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 1}
	if _, err := other.e.Create(ctx, spec, "operator"); err != nil {
		t.Fatal(err)
	}
	var first string
	waitFor(t, 10*time.Second, "the first job", func() bool {
		for id := range c.atts {
			if len(c.jobsOf(id)) > 0 {
				first = id
				return true
			}
		}
		return false
	})
	had := len(c.jobsOf(first))
	c.kill(lead)
	if c.leader(t) != other {
		t.Fatal("the survivor did not take the lease")
	}
	waitFor(t, 10*time.Second, "the job in flight published again by the new evaluator", func() bool {
		return len(c.jobsOf(first)) > had
	})
}
