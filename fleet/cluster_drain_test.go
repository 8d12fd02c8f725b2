package fleet

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/fleet/cluster/natstest"
	"rampart/fleet/trust"
)

// freePort returns a TCP port free on 127.0.0.1 a moment ago (the node's
// advertised addresses must be known before it starts).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestClusterDrainRefersToPeer: two nodes with advertised endpoints. An
// enrollment answer names both nodes' MQTT endpoints; the job signer of
// the node started second certifies both nodes' enrollment endpoints (a
// device may resume a download from either), and jobs name its own; the
// first node's signer certifies the second's once it joined; a
// device on the first node, when it drains, is told 0x9C naming the
// second.
func TestClusterDrainRefersToPeer(t *testing.T) {
	a := prepareFixture(t, "postgres") // skips without RAMPART_TEST_POSTGRES
	nc := natstest.Start(t, 3)
	base, err := os.ReadFile(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b := &fixture{t: t, dir: a.dir, mfr: a.mfr, relKey: a.relKey, release: a.release, relInfo: a.relInfo, backend: a.backend}
	mqtt, enroll := map[string]string{}, map[string]string{}
	for i, f := range []*fixture{a, b} {
		name := string(rune('a' + i))
		mqtt[name] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		enroll[name] = fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
		text := strings.Replace(string(base), "data_dir: data\n", "data_dir: data-"+name+"\n", 1)
		text = strings.Replace(text, "  enroll: 127.0.0.1:0\n", "  enroll: "+strings.TrimPrefix(enroll[name], "https://")+"\n", 1)
		text = strings.Replace(text, "  mqtt: 127.0.0.1:0\n", "  mqtt: "+mqtt[name]+"\n", 1)
		text += fmt.Sprintf("cluster:\n  node: %s\n  nats: [%s]\n  replicas: 3\n  advertise: {mqtt: [%q], enroll: %q}\n", name, nc.URLs()[i], mqtt[name], enroll[name])
		f.cfgPath = filepath.Join(a.dir, "server-"+name+".yaml")
		if err := os.WriteFile(f.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		f.start()
		waitFor(t, 10*time.Second, "node "+name+" in the registry", func() bool { return f.srv.node.Live() == i+1 })
	}
	if _, err := trust.RegisterRelease(context.Background(), a.srv.Store(), a.release, a.srv.cfg.releaseKeys, "test", "test"); err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, u := range b.srv.JobSigner().Certificate().URIs {
		uris = append(uris, u.String())
	}
	if !slices.Contains(uris, enroll["a"]) || !slices.Contains(uris, enroll["b"]) {
		t.Fatalf("node b's job signer certifies %q: want both nodes' enrollment endpoints", uris)
	}
	// Node a started alone: its job signer certified only its own
	// endpoint, and certifies b's once b is in the registry.
	took := waitFor(t, 10*time.Second, "node a's job signer certifies node b's endpoint", func() bool {
		return slices.ContainsFunc(a.srv.JobSigner().Certificate().URIs, func(u *url.URL) bool { return u.String() == enroll["b"] })
	})
	t.Logf("node a's job signer certified node b's endpoint %v after b joined", took.Round(time.Millisecond))
	if got := b.srv.imageBase(); got != enroll["b"] {
		t.Fatalf("jobs of node b name %s, want its advertised %s", got, enroll["b"])
	}

	waitFor(t, 10*time.Second, "node a sees node b's endpoint", func() bool { return slices.Contains(a.srv.MQTTEndpoints(), mqtt["b"]) })
	d := a.newDevices(1)[0]
	nonce, err := d.client().Nonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ans, err := enrollAnswer(d, nonce)
	if err != nil {
		t.Fatal(err)
	}
	d.cert = ans.Certificate
	if !slices.Equal(ans.MQTT, []string{mqtt["a"], mqtt["b"]}) {
		t.Fatalf("enrollment answer of node a names %q, want a's then b's MQTT endpoint", ans.MQTT)
	}
	told := make(chan *paho.Disconnect, 1)
	c, _, err := mqttConnectWith(a, d, func(cfg *paho.ClientConfig) {
		cfg.OnServerDisconnect = func(p *paho.Disconnect) { told <- p }
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-told:
		if p.ReasonCode != 0x9C || p.Properties == nil || p.Properties.ServerReference != mqtt["b"] {
			t.Fatalf("DISCONNECT %+v, want 0x9C referring to node b (%s)", p, mqtt["b"])
		}
	case <-time.After(time.Minute): // against hangs
		t.Fatal("no DISCONNECT from the draining node")
	}
}
