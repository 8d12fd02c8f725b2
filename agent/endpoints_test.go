package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"rampart/deviceproto"
)

// TestEndpointRotation: connections go to the configured endpoint, then
// (after each failure) to the next the fleet named; a Server Reference
// (0x9C) is tried once, first; 0x9D (server moved) also keeps it first,
// persisted; a malformed reference is ignored.
func TestEndpointRotation(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{cfg: Config{Dir: dir, MQTTAddr: "lb.example:8883", Log: slog.New(slog.DiscardHandler)},
		state: &State{MQTTEndpoints: []string{"node-1.example:8883", "LB.example:8883", "node-2.example:8883"}}}
	if got := a.MQTTEndpoints(); !slices.Equal(got, []string{"lb.example:8883", "node-1.example:8883", "node-2.example:8883"}) {
		t.Fatalf("endpoints %q", got)
	}
	var seen []string
	for range 4 {
		e := a.pickEndpoint()
		seen = append(seen, e)
		a.endpointFailed(e)
	}
	if !slices.Equal(seen, []string{"lb.example:8883", "node-1.example:8883", "node-2.example:8883", "lb.example:8883"}) {
		t.Fatalf("rotation %q", seen)
	}
	// A success keeps the endpoint; a failure of another changes nothing.
	e := a.pickEndpoint()
	a.endpointFailed("node-2.example:8883")
	if a.pickEndpoint() != e {
		t.Fatal("a failure of another endpoint moved the order")
	}

	a.serverReference(0x9C, "bad-reference node-2.example:8883")
	if got := a.pickEndpoint(); got != "node-2.example:8883" {
		t.Fatalf("after 0x9C: %s, want the reference", got)
	}
	if got := a.pickEndpoint(); got != e {
		t.Fatalf("a 0x9C reference was kept: %s", got)
	}
	a.serverReference(0x8B, "node-2.example:8883") // shutting down: no reference honoured
	a.serverReference(0x9C, "not an endpoint")
	if got := a.pickEndpoint(); got != e {
		t.Fatalf("reference honoured for another reason or malformed: %s", got)
	}
	a.serverReference(0x9D, "node-9.example:8883")
	if got := a.pickEndpoint(); got != "node-9.example:8883" {
		t.Fatalf("after 0x9D: %s", got)
	}
	st, err := loadState(dir)
	if err != nil || len(st.MQTTEndpoints) == 0 || st.MQTTEndpoints[0] != "node-9.example:8883" {
		t.Fatalf("0x9D not persisted first: %+v %v", st, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, StateFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v", fi.Mode().Perm())
	}
	// A state file with a malformed endpoint is refused.
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"mqtt_endpoints":["no port"]}`), 0o600)
	if _, err := loadState(dir); !errors.Is(err, deviceproto.ErrEndpoint) {
		t.Fatalf("malformed endpoint in state: %v", err)
	}
}

// cutServer sends the first cut bytes of data with the full length, then
// drops the connection: a node that dies mid-download.
type cutServer struct {
	data []byte
	cut  int
}

func (s *cutServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(s.data)))
	w.WriteHeader(http.StatusOK)
	w.Write(s.data[:s.cut])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// TestDownloadFailsOver: a download cut by the node serving it resumes
// with a Range request from the next endpoint the job's signer certified,
// and a mirror answering 404 is skipped, not fatal.
func TestDownloadFailsOver(t *testing.T) {
	data := make([]byte, 300_000)
	rand.Read(data)
	dying := httptest.NewTLSServer(&cutServer{data: data, cut: 100_000})
	defer dying.Close()
	missing := httptest.NewTLSServer(http.NotFoundHandler())
	defer missing.Close()
	good := &imageServer{data: data}
	other := httptest.NewTLSServer(good)
	defer other.Close()
	a := testAgent(t, dying, nil) // httptest servers share one certificate
	a.cfg.Log = slog.New(slog.DiscardHandler)
	host := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Host }
	mirrors := []string{host(dying), host(missing), host(other)}
	j := jobFor(dying.URL+"/images/abc?device=d&token=t", data)
	var errs []error
	var path string
	for range 3 {
		p, err := a.download(context.Background(), j, mirrors)
		if err == nil {
			path = p
			break
		}
		if IsFatal(err) {
			t.Fatalf("fatal: %v", err)
		}
		errs = append(errs, err)
	}
	if path == "" {
		t.Fatalf("not downloaded: %v", errs)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("the image differs")
	}
	if len(good.ranges) != 1 || good.ranges[0] != "bytes=100000-" {
		t.Fatalf("ranges asked of the other node: %q, want one from byte 100000", good.ranges)
	}
}

// TestConfirmReattestsElsewhere: the trial boot's re-attestation goes to
// the enrollment endpoint and, when it is unreachable (its node died
// during the update), to the job's other download endpoints, the fleet's
// other nodes: a device homed on a dead node still confirms its update.
func TestConfirmReattestsElsewhere(t *testing.T) {
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // the enrollment node died
	var asked []string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		http.Error(w, "busy", http.StatusServiceUnavailable) // transient: the retry goes on
	}))
	defer other.Close()
	a := testAgent(t, other, nil)
	a.cfg.Log = slog.New(slog.DiscardHandler)
	a.cfg.EnrollURL = deadURL
	a.cfg.Backoff = Backoff{Base: time.Millisecond, Max: time.Millisecond, Attempts: 4}
	host := func(s string) string { u, _ := url.Parse(s); return u.Host }
	a.state = &State{Update: &Update{Job: deviceproto.Job{ID: "j", Version: "2.0.0"}, Phase: PhaseTrial,
		Mirrors: []string{host(deadURL), host(other.URL)}}}
	err := a.selfTest(context.Background(), a.state.Update.Job)
	if err == nil || IsFatal(err) {
		t.Fatalf("selfTest: %v, want a transient failure (neither node enrolled)", err)
	}
	if len(asked) != 2 {
		t.Fatalf("the other node was asked %d times (%q) in 4 attempts, want every other attempt", len(asked), asked)
	}
}

// TestRefusalOfReplacedCertificate: a broker's refusal of a certificate
// the agent has replaced since it dialed (its renewal committed, which
// ended the old session, before the answer reached the agent) neither
// moves the next connection to another endpoint nor forces another
// renewal; a refusal of the current certificate does both, and another
// failure moves the endpoint only. Before, every refusal did both: the
// devices of a killed node that were mid-update renewed twice and
// reconnected through the dead node's endpoint (clustertest
// TestClusterKillNodeMidCampaign).
func TestRefusalOfReplacedCertificate(t *testing.T) {
	old, current := &x509.Certificate{Raw: []byte("old")}, &x509.Certificate{Raw: []byte("current")}
	a := &Agent{cfg: Config{Dir: t.TempDir(), MQTTAddr: "node-0.example:8883", Log: slog.New(slog.DiscardHandler)},
		state: &State{MQTTEndpoints: []string{"node-1.example:8883", "node-2.example:8883"}}, cert: current}
	e := a.pickEndpoint()
	a.connectFailed(e, old, true)
	if got := a.pickEndpoint(); got != e || a.forceRenew {
		t.Fatalf("refusal of the replaced certificate: next endpoint %s (want %s), forced renewal %v (want false)", got, e, a.forceRenew)
	}
	a.connectFailed(e, current, true)
	if got := a.pickEndpoint(); got == e || !a.forceRenew {
		t.Fatalf("refusal of the current certificate: next endpoint %s (want another than %s), forced renewal %v (want true)", got, e, a.forceRenew)
	}
	a.forceRenew = false
	e = a.pickEndpoint()
	a.connectFailed(e, current, false)
	if got := a.pickEndpoint(); got == e || a.forceRenew {
		t.Fatalf("other failure: next endpoint %s (want another than %s), forced renewal %v (want false)", got, e, a.forceRenew)
	}
}

// TestRecentlyDownEndpointSkipped: an endpoint that looked down a few
// seconds ago (its dial refused: a dead node) is passed over while
// another has not; an endpoint that refused with a CONNACK or ended a
// session with a DISCONNECT (alive: busy, draining) only moves the
// rotation on, as before. When every endpoint looked down lately the one
// that did longest ago is tried, and a session opened at an endpoint, or
// recentlyDown passing, forgets it. Before, the rotation went to the dead
// node's endpoint whenever it came next.
func TestRecentlyDownEndpointSkipped(t *testing.T) {
	now := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	a := &Agent{cfg: Config{Dir: t.TempDir(), MQTTAddr: "node-0.example:8883", Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }},
		state: &State{MQTTEndpoints: []string{"node-1.example:8883", "node-2.example:8883"}}}
	const n0, n1, n2 = "node-0.example:8883", "node-1.example:8883", "node-2.example:8883"
	next := func(d time.Duration, want, why string) {
		t.Helper()
		now = now.Add(d)
		if got := a.pickEndpoint(); got != want {
			t.Fatalf("%s: next endpoint %s, want %s", why, got, want)
		}
	}
	// t=0: node-0 is killed; the device's dial there is refused.
	a.endpointDown(n0)
	next(0, n1, "node-0 down (t=0)")
	// t=2: node-1 ends the session (DISCONNECT), node-2 answers busy
	// (CONNACK 0x89): the rotation's next is node-0, down 3 s ago: node-1.
	a.endpointFailed(n1)
	next(2*time.Second, n2, "node-1 ended the session (t=2)")
	a.endpointFailed(n2)
	next(time.Second, n1, "node-2 busy (t=3), node-0 down 3 s ago")
	// Every endpoint looked down lately: the one that did longest ago.
	a.endpointDown(n1)
	next(time.Second, n2, "node-1 down too (t=4)")
	a.endpointDown(n2)
	next(time.Second, n0, "node-2 down too (t=5): node-0 looked down longest ago")
	a.endpointDown(n0)
	next(0, n1, "node-0 refused again (t=5): node-1 looked down longest ago")
	// A session opened at node-2 (Connect) forgets that it looked down.
	a.mu.Lock()
	a.ep.worked(n2)
	a.ep.next = 0
	a.mu.Unlock()
	next(0, n2, "node-2 served a session since")
	// A failure older than recentlyDown counts no more.
	a.ep.next = 0
	next(recentlyDown, n0, "node-0 looked down recentlyDown ago")
}

// TestCutSessionMarksEndpointDown: a session cut without a DISCONNECT
// (its node died) marks its endpoint down, so the next connections pass
// it over; one the broker ended with a DISCONNECT (alive) only moves the
// rotation on.
func TestCutSessionMarksEndpointDown(t *testing.T) {
	for _, told := range []bool{false, true} {
		a := &Agent{cfg: Config{Dir: t.TempDir(), MQTTAddr: "node-0.example:8883", Log: slog.New(slog.DiscardHandler)},
			state: &State{MQTTEndpoints: []string{"node-1.example:8883"}}}
		lost := make(chan struct{})
		close(lost)
		a.mqttAddr, a.lost, a.told = "node-0.example:8883", lost, new(atomic.Bool)
		a.told.Store(told)
		a.sessionLost()
		_, down := a.ep.down["node-0.example:8883"]
		if down == told {
			t.Errorf("session ended with a DISCONNECT %v: endpoint marked down %v", told, down)
		}
		if got := a.pickEndpoint(); got != "node-1.example:8883" {
			t.Errorf("session ended with a DISCONNECT %v: next endpoint %s", told, got)
		}
	}
}
