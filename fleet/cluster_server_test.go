package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/cluster/natstest"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/fleet/trust"
)

// clusterPair is two fleet servers in this process, nodes a and b of one
// cluster: one PostgreSQL database, one three-server NATS cluster, each
// node with its own data_dir (no CA file: the CA comes from the store).
type clusterPair struct {
	a, b *fixture
	nats *natstest.Cluster
}

func newClusterPair(t *testing.T, onlyListed bool) *clusterPair {
	t.Helper()
	a := prepareFixture(t, "postgres") // skips without RAMPART_TEST_POSTGRES
	nc := natstest.Start(t, 3)
	base, err := os.ReadFile(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	urls := nc.URLs()
	b := &fixture{t: t, dir: a.dir, mfr: a.mfr, relKey: a.relKey, release: a.release, relInfo: a.relInfo, backend: a.backend}
	for i, f := range []*fixture{a, b} {
		f.onlyListedNATS = onlyListed
		name := string(rune('a' + i))
		text := strings.Replace(string(base), "data_dir: data\n", "data_dir: data-"+name+"\n", 1)
		// Each node reaches NATS through a different server.
		text += fmt.Sprintf("cluster:\n  node: %s\n  nats: [%s, %s]\n  replicas: 3\n", name, urls[i], urls[2])
		f.cfgPath = filepath.Join(a.dir, "server-"+name+".yaml")
		if err := os.WriteFile(f.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		f.start()
	}
	if _, err := trust.RegisterRelease(context.Background(), a.srv.Store(), a.release, a.srv.cfg.releaseKeys, "test", "test"); err != nil {
		t.Fatal(err)
	}
	return &clusterPair{a: a, b: b, nats: nc}
}

// waitFor polls cond every 5 ms until it holds or d passes, and returns
// how long it took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestClusterTwoNodes: two nodes share the CA (from the store), see each
// other in the registry, divide the per-source budgets, run the
// maintenance loops on one of them; a suspension through node a's API
// disconnects the device node b holds within 1 s, and its reconnection is
// refused on both; a job published on a reaches the device on b.
func TestClusterTwoNodes(t *testing.T) {
	p := newClusterPair(t, false)
	a, b := p.a, p.b
	ctx := context.Background()
	if !a.srv.CA().Certificate().Equal(b.srv.CA().Certificate()) {
		t.Fatal("the nodes issue under different CAs")
	}
	for _, f := range []*fixture{a, b} {
		if _, err := os.Stat(filepath.Join(f.dir, "data-"+f.srv.cfg.Cluster.Node, "ca.key.enc")); !os.IsNotExist(err) {
			t.Fatalf("node %s wrote a CA key file: %v", f.srv.cfg.Cluster.Node, err)
		}
		// but the certificate clients need as --ca, which the start-up
		// line names.
		if b, err := os.ReadFile(f.srv.CACertFile()); err != nil || !bytes.Contains(b, []byte("CERTIFICATE")) || filepath.Base(f.srv.CACertFile()) != "ca.crt" {
			t.Fatalf("node %s: CA certificate file %q: %v", f.srv.cfg.Cluster.Node, f.srv.CACertFile(), err)
		}
	}
	waitFor(t, 10*time.Second, "both nodes live, seen from each", func() bool { return a.srv.node.Live() == 2 && b.srv.node.Live() == 2 })
	// Advertised by default: the addresses bound (the listen addresses
	// name port 0), this node's first.
	waitFor(t, 5*time.Second, "a knows b's bound endpoint", func() bool {
		got := a.srv.MQTTEndpoints()
		return len(got) == 2 && got[0] == a.srv.MQTTAddr() && got[1] == b.srv.MQTTAddr()
	})
	nodes, err := a.srv.node.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || nodes[1].Name != "b" {
		t.Fatalf("registry: %+v %v", nodes, err)
	}
	// Each node holds half of a source's budget (the defaults: failures
	// 1/s, bursts of 30).
	waitFor(t, 5*time.Second, "budgets halved", func() bool {
		return a.srv.adminFails.Rate().Burst == 15 && b.srv.enrollFails.Rate().Burst == 15
	})
	// Exactly one node runs the maintenance loops.
	waitFor(t, 10*time.Second, "one maintenance holder", func() bool {
		return len(a.srv.heldLeases())+len(b.srv.heldLeases()) == 1
	})

	// A device endorsed through node a enrolls through node b and
	// connects there; a sees that b holds it.
	devs := a.newDevices(2)
	d, d2 := devs[0], devs[1]
	d.f, d2.f = b, b
	for _, x := range devs {
		if err := x.enroll(false); err != nil {
			t.Fatalf("enroll through b: %v", err)
		}
	}
	if !a.srv.CA().IsIssuer(d.cert) {
		t.Fatal("b issued outside the shared CA")
	}
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	waitFor(t, 5*time.Second, "presence of d on b", func() bool {
		h, ok, _ := a.srv.node.Holder(ctx, d.id)
		return ok && h == "b"
	})

	// The admin API of either node lists both, with what each holds.
	waitFor(t, 5*time.Second, "GET /api/v1/nodes shows b's device", func() bool {
		st, body := a.api("GET", "/api/v1/nodes", viewerToken, "")
		var list []adminapi.Node
		if st != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
			t.Fatalf("nodes: %d %s", st, body)
		}
		// Each lease (maintenance, the campaign evaluator) has one holder.
		held := map[string]int{}
		for _, n := range list {
			for _, l := range n.Leases {
				held[l]++
			}
		}
		if len(held) != 2 || held[MaintenanceLease] != 1 || held["campaigns"] != 1 || list[0].Name != "a" || list[1].Version != b.srv.version {
			t.Fatalf("nodes: %+v", list)
		}
		return list[1].Devices == 1
	})

	// A job published on node a is stored on b's broker: d2, subscribed
	// on b, receives it.
	got := make(chan []byte, 1)
	sub := subscribeJobs(t, b, d2, got)
	defer sub.Disconnect(&paho.Disconnect{})
	job := []byte("a job from node a")
	if err := a.srv.publishJob(d2.id, job, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, job) {
			t.Fatalf("job %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job published on a did not reach the device on b")
	}

	// Suspended through a's API: b drops the session within 1 s.
	if b.srv.broker.Connected() != 2 {
		t.Fatalf("b holds %d sessions, want 2", b.srv.broker.Connected())
	}
	start := time.Now()
	if st, body := a.api("POST", "/api/v1/devices/"+d.id+"/suspend", operatorToken, `{"reason":"reported stolen"}`); st != 200 {
		t.Fatalf("suspend: %d %s", st, body)
	}
	took := waitFor(t, time.Second, "b dropped the suspended device", func() bool { return b.srv.broker.Connected() == 1 })
	t.Logf("suspension through a ended the session on b %v after the request was sent (%v after the answer)", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	waitFor(t, 5*time.Second, "presence of d removed", func() bool {
		_, ok, _ := a.srv.node.Holder(ctx, d.id)
		return !ok
	})
	for _, f := range []*fixture{a, b} {
		d.f = f
		mustConnectFail(t, f, d.tlsCert(), d.id, "suspended device on node "+f.srv.cfg.Cluster.Node)
	}

	// The NATS server leading the nonce bucket's stream stops: enrollment
	// (whose nonces are recorded there) goes on through both nodes once
	// the remaining two have elected a new leader.
	// The NATS servers restarted above: the bucket's raft group elects
	// its leader within its election timeout, not at once.
	leader := p.nats.WaitStreamLeader("KV_rampart-nonces", 30*time.Second)
	if leader < 0 {
		t.Fatal("no leader for the nonce bucket within 30 s")
	}
	p.nats.Stop(leader)
	for _, f := range []*fixture{a, b} {
		x := a.newDevices(1)[0]
		x.f = f
		took := waitFor(t, 30*time.Second, "enrollment through "+f.srv.cfg.Cluster.Node+" after the NATS leader stopped", func() bool {
			return x.enroll(false) == nil
		})
		t.Logf("enrollment through %s after the NATS leader stopped: %v", f.srv.cfg.Cluster.Node, took.Round(time.Millisecond))
	}
}

// subscribeJobs connects dev to node f and sends the payload of every
// message on its jobs topic to got.
func subscribeJobs(t *testing.T, f *fixture, dev *device, got chan<- []byte) *paho.Client {
	t.Helper()
	conn, err := tls.Dial("tcp", f.mqttAddr, &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{dev.tlsCert()}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	mq := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), PacketTimeout: time.Minute, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			if p.Packet.Topic == deviceproto.JobsTopic(dev.id) {
				select {
				case got <- p.Packet.Payload:
				default:
				}
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := mq.Connect(ctx, &paho.Connect{ClientID: dev.id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := mq.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: deviceproto.JobsTopic(dev.id), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return mq
}

// TestSharedCA: the first node of a cluster stores the CA of its data_dir
// (a single node growing into a cluster keeps its CA); a node with an
// empty data_dir, or with other CA files, loads the stored one; a wrong
// passphrase opens nothing. (A new CA, when neither exists, is
// TestClusterTwoNodes's case.)
func TestSharedCA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pass := []byte(testPassphrase)
		o := ca.Options{Rand: rand.Reader, Name: "Test CA"}
		log := slog.New(slog.DiscardHandler)
		// An empty store and no CA files: no new CA under a weak passphrase.
		if _, _, err := openSharedCA(ctx, db, t.TempDir(), []byte("weak"), errors.New("too weak"), o, log); err == nil || !strings.Contains(err.Error(), "too weak") {
			t.Fatalf("new CA under a weak passphrase: %v", err)
		}
		first := t.TempDir()
		own, err := ca.Open(first, pass, o) // the single node's CA files
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := openSharedCA(ctx, db, first, []byte("a wrong passphrase, long enough"), nil, o, log); !errors.Is(err, ca.ErrPassphrase) {
			t.Fatalf("wrong passphrase: %v", err)
		}
		if _, _, err := db.FleetCA(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a CA was stored after a wrong passphrase: %v", err)
		}
		// In this order: the first node's files are imported into the
		// empty store, then a node without files loads them from it.
		for _, step := range []struct{ name, dir string }{{"first", first}, {"empty", t.TempDir()}, {"first again", first}} {
			name, dir := step.name, step.dir
			got, certFile, err := openSharedCA(ctx, db, dir, pass, nil, o, log)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !got.Certificate().Equal(own.Certificate()) {
				t.Fatalf("%s: not the first node's CA", name)
			}
			// Every node's data_dir holds the cluster's CA certificate,
			// the file clients need as --ca, and reopens from it.
			want, _ := os.ReadFile(filepath.Join(first, ca.CertFile))
			if b, err := os.ReadFile(certFile); err != nil || certFile != filepath.Join(dir, ca.CertFile) || !bytes.Equal(b, want) {
				t.Fatalf("%s: CA certificate file %q: %v", name, certFile, err)
			}
		}
		// A stored CA opens under a passphrase weaker than new keys need.
		if _, _, err := openSharedCA(ctx, db, t.TempDir(), pass, errors.New("too weak"), o, log); err != nil {
			t.Fatalf("stored CA, weak passphrase: %v", err)
		}
		other := t.TempDir()
		if _, err := ca.Open(other, pass, o); err != nil {
			t.Fatal(err)
		}
		got, certFile, err := openSharedCA(ctx, db, other, pass, nil, o, log)
		if err != nil || !got.Certificate().Equal(own.Certificate()) || certFile != "" {
			t.Fatalf("a node with other CA files: %q %v", certFile, err)
		}
		if _, _, err := openSharedCA(ctx, db, t.TempDir(), []byte("a wrong passphrase, long enough"), nil, o, log); !errors.Is(err, ca.ErrPassphrase) {
			t.Fatalf("stored CA, wrong passphrase: %v", err)
		}
	})
}

// TestClusterMissedDisconnect: a node cut off from NATS misses the
// disconnect another node sends; when it reconnects it checks its sessions
// against the store and ends the suspended device's.
func TestClusterMissedDisconnect(t *testing.T) {
	p := newClusterPair(t, true)
	a, b := p.a, p.b
	d := a.newDevices(1)[0]
	d.f = b
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	waitFor(t, 5*time.Second, "b holds the session", func() bool { return b.srv.broker.Connected() == 1 })
	// b reaches NATS through servers 1 and 2 only; a through 0 (and 2).
	p.nats.Stop(1)
	p.nats.Stop(2)
	waitFor(t, 10*time.Second, "b cut off from NATS", func() bool { return !b.srv.node.Connected() })
	if st, body := a.api("POST", "/api/v1/devices/"+d.id+"/suspend", operatorToken, `{"reason":"reported stolen"}`); st != 200 {
		t.Fatalf("suspend: %d %s", st, body)
	}
	if b.srv.broker.Connected() != 1 {
		t.Fatal("the disconnect reached b without NATS")
	}
	p.nats.Restart(1)
	p.nats.Restart(2)
	took := waitFor(t, 30*time.Second, "b ended the suspended device's session after reconnecting", func() bool { return b.srv.broker.Connected() == 0 })
	t.Logf("session ended %v after the NATS servers restarted", took.Round(time.Millisecond))
	// The refusal is audited through the coalescer, which may write it
	// just after the session ends: polled, not read once (lastAudit fails
	// at the first empty read).
	waitFor(t, 10*time.Second, "the end audited as the recheck's", func() bool {
		l, err := b.srv.Store().AuditLog(context.Background(), store.AuditFilter{Action: "mqtt.session", Subject: d.id, Limit: 1})
		return err == nil && len(l) == 1 && strings.Contains(l[0].Reason, "suspended")
	})
}

// TestClusterStaleSupersededIgnored: a device renewed twice; the message
// announcing its first renewal's certificate reaches a node after the
// second (the bus orders two nodes' messages for one device with each
// other only by chance). The node holding the device's session with the
// newest certificate keeps it and accepts new ones. Fails on the code
// that applied every superseded message: the session ended "superseded
// by" the older certificate, and new ones were refused for a minute.
func TestClusterStaleSupersededIgnored(t *testing.T) {
	p := newClusterPair(t, false)
	a, b := p.a, p.b
	waitFor(t, 10*time.Second, "both nodes live", func() bool { return a.srv.node.Live() == 2 && b.srv.node.Live() == 2 })
	d := a.newDevices(1)[0]
	d.f = b
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	older := ca.Serial(d.cert.SerialNumber)
	if err := d.enroll(true); err != nil {
		t.Fatal(err)
	}
	if ca.Serial(d.cert.SerialNumber) == older {
		t.Fatal("the renewal kept the serial")
	}
	d.f = a
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	waitFor(t, 5*time.Second, "a holds d", func() bool { return a.srv.broker.Connected() == 1 })
	// The late message: b announces the older certificate again.
	if err := b.srv.node.Superseded(d.id, older, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the bus delivers within milliseconds here
	if n := a.srv.broker.Connected(); n != 1 {
		t.Fatalf("a holds %d sessions after the out-of-date message, want d's", n)
	}
	c2, _, err := d.mqtt("")
	if err != nil {
		t.Fatalf("a new session with the newest certificate: %v", err)
	}
	c2.Disconnect(&paho.Disconnect{})
}

// TestClusterRenewalGraceAcrossNodes: a device connected to node a renews
// through node b (enrollment behind a load balancer): a gives the old
// certificate's session the renewal's grace that b gave it (the
// superseded message carries it), so the device keeps its session until
// it reconnects with the new certificate, which takes it over. Fails on
// the code that ended it at once on every node but the issuing one.
func TestClusterRenewalGraceAcrossNodes(t *testing.T) {
	t.Skip("the renewal grace is off by default until a known bug is fixed: after the renewed certificate's session takes the old one over, the new session sometimes gets no PUBACK (clean-clone CI, 2026-12-08; docs/ownership-and-rotation.md)")
	p := newClusterPair(t, false)
	a, b := p.a, p.b
	waitFor(t, 10*time.Second, "both nodes live", func() bool { return a.srv.node.Live() == 2 && b.srv.node.Live() == 2 })
	d := a.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	waitFor(t, 5*time.Second, "a holds d", func() bool { return a.srv.broker.Connected() == 1 })
	d.f = b
	if err := d.enroll(true); err != nil {
		t.Fatal(err)
	}
	d.f = a
	time.Sleep(2 * time.Second) // the bus delivers within milliseconds here; the grace is 15 s
	ctx := context.Background()
	if pr, err := c.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: []byte(`{"values":{"x":0}}`)}); err != nil || pr.ReasonCode != 0 {
		t.Fatalf("publish on the old session within the renewal's grace: %+v %v", pr, err)
	}
	c2, _, err := d.mqtt("")
	if err != nil {
		t.Fatalf("renewed certificate at a: %v", err)
	}
	defer c2.Disconnect(&paho.Disconnect{})
	select {
	case <-c.Done():
	case <-time.After(time.Minute): // against hangs
		t.Fatal("the new certificate's session did not take the old one over")
	}
}
