package fleet

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/fleet/trust"
)

// tightLimits are listener limits short enough for the tests to watch them
// act; they are deadlines against hangs, and the tests poll.
const tightLimits = `http:
  enroll: {read_header_timeout: 300ms, read_timeout: 2s, stall_timeout: 300ms, idle_timeout: 1s, max_conns_per_source: 6}
  admin: {read_header_timeout: 300ms, read_timeout: 2s, stall_timeout: 300ms, idle_timeout: 1s, max_conns_per_source: 6}
`

// newLimitedFixture starts a server whose configuration has extra appended.
func newLimitedFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	f := prepareFixture(t, "sqlite")
	appendConfig(t, f.cfgPath, extra)
	f.start()
	return f
}

// dialTLS opens a TLS connection to base's host from local address from.
func (f *fixture) dialTLS(t *testing.T, base, from string) *tls.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", u.Host, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpFrom is an HTTPS client whose connections come from local address
// from (127.0.0.x: another source on the loopback).
func (f *fixture) httpFrom(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: f.pool}}}
}

// closedWithin reports whether the server closes c (anything it sends is
// read and dropped) before wait passes.
func closedWithin(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// served checks that a well-behaved client from another source gets an
// answer from the listener meanwhile.
func (f *fixture) served(t *testing.T, listener string) {
	t.Helper()
	hc := f.httpFrom("127.0.0.2")
	defer hc.CloseIdleConnections()
	var resp *http.Response
	var err error
	if listener == "admin" {
		resp, err = hc.Get(f.adminURL + "/healthz")
	} else {
		resp, err = hc.Post(f.enrollURL+deviceproto.PathNonce, "", nil)
	}
	if err != nil {
		t.Fatalf("%s: another client not served: %v", listener, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: another client answered %s", listener, resp.Status)
	}
}

// Issue 15, item 7: on every HTTPS listener a client that sends its
// headers slowly, declares a body and never sends it, or never reads the
// answers, is cut off, and others are served meanwhile; a source cannot
// open more than its share of connections.
func TestSlowClientsPerListener(t *testing.T) {
	f := newLimitedFixture(t, tightLimits)
	const wait = 20 * time.Second // far above the limits; the old admin listener held such clients 90 s+
	for _, l := range []struct{ name, base, post, bigGet string }{
		{"enroll", f.enrollURL, deviceproto.PathSimpleEnroll, deviceproto.PathCACerts},
		{"admin", f.adminURL, "/api/v1/devices/x/suspend", "/api/v1/openapi.json"},
	} {
		t.Run(l.name+"/slowloris", func(t *testing.T) {
			c := f.dialTLS(t, l.base, "127.0.0.1")
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n", l.bigGet)
			closed := make(chan bool, 1)
			go func() { closed <- closedWithin(c, wait) }()
			for i := 0; ; i++ { // a header line every 50 ms, never the end
				select {
				case ok := <-closed:
					if !ok {
						t.Fatal("slow headers: connection kept open")
					}
					f.served(t, l.name)
					return
				case <-time.After(50 * time.Millisecond):
					fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i)
				}
			}
		})
		for _, auth := range []string{"", adminToken} {
			t.Run(l.name+"/body-never-sent"+map[string]string{"": "", adminToken: "/authenticated"}[auth], func(t *testing.T) {
				c := f.dialTLS(t, l.base, "127.0.0.1")
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{", l.post, auth)
				if !closedWithin(c, wait) {
					t.Fatal("declared body never sent: connection kept open")
				}
				f.served(t, l.name)
			})
		}
		t.Run(l.name+"/never-reads", func(t *testing.T) {
			c := f.dialTLS(t, l.base, "127.0.0.1")
			// Pipelined requests whose answers (megabytes in all) the
			// client never reads: the server's writes stall.
			w := bufio.NewWriter(c)
			for range 2000 {
				fmt.Fprintf(w, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", l.bigGet)
			}
			go func() { w.Flush() }()
			deadline := time.Now().Add(wait)
			for {
				// Write probes: once the server has closed, writes fail.
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte("X")); err != nil && !isTimeout(err) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("client that never reads: connection kept open")
				}
				time.Sleep(100 * time.Millisecond)
			}
			f.served(t, l.name)
		})
	}
}

// Each listener closes a source's connection beyond max_conns_per_source
// at accept, before its TLS handshake, and still serves other sources. The
// headers timeout here is long, so the connections already open stay so.
func TestPerSourceConnectionCap(t *testing.T) {
	f := newLimitedFixture(t, `http:
  enroll: {read_header_timeout: 1m, max_conns_per_source: 6}
  admin: {read_header_timeout: 1m, max_conns_per_source: 6}
`)
	for _, l := range []struct{ name, base string }{{"enroll", f.enrollURL}, {"admin", f.adminURL}} {
		t.Run(l.name, func(t *testing.T) {
			for range 6 {
				f.dialTLS(t, l.base, "127.0.0.3")
			}
			u, _ := url.Parse(l.base)
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 10 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", u.Host, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
			if err == nil {
				c.Close()
				t.Fatal("a seventh connection from one source completed its handshake (cap 6)")
			}
			f.served(t, l.name)
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Issue 15, items 6 and 8, end to end: a source flooding the enrollment
// listener with nonce requests and failed enrollments is limited (429)
// while a device from another source enrolls, and the flood writes a
// bounded number of audit rows.
func TestEnrollFloodEndToEnd(t *testing.T) {
	f := newFixture(t, "sqlite")
	dev := f.newDevices(1)[0]
	flood := f.httpFrom("127.0.0.2")
	defer flood.CloseIdleConnections()
	codes := map[int]int{}
	for range 1000 {
		resp, err := flood.Post(f.enrollURL+deviceproto.PathNonce, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	for range 200 {
		resp, err := flood.Post(f.enrollURL+deviceproto.PathSimpleEnroll, "application/pkcs10", strings.NewReader("bm90IGEgY3Ny"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[200] > 200 || codes[http.StatusTooManyRequests] < 900 || codes[http.StatusBadRequest] > 60 {
		t.Fatalf("flood answers: %v", codes)
	}
	if err := dev.enroll(false); err != nil {
		t.Fatalf("a device from another source during the flood: %v", err)
	}
	f.srv.refusals.Flush(context.Background())
	n, _ := f.srv.Store().CountAudit(context.Background())
	if n > 12 {
		t.Fatalf("1,200 flooding requests wrote %d audit rows", n)
	}
	t.Logf("flood answers %v; %d audit rows in all", codes, n)
}

// Issue 15, item 8: 5,000 unauthenticated admin requests from one source
// wrote 5,000 audit rows in 1.26 s; now a handful, and the source is
// answered 429 once its failure budget is spent, while a caller with a
// valid token from the same address is still served.
func TestAdminUnauthenticatedFlood(t *testing.T) {
	f := newFixture(t, "sqlite")
	codes := map[int]int{}
	start := time.Now()
	for range 5000 {
		st, _ := f.api("GET", "/api/v1/devices", "wrong-token", "")
		codes[st]++
	}
	// The budget is a burst of 30 refilled at 1/s: a loaded machine that
	// takes s seconds over the flood earns up to s more refusals.
	extra := int(time.Since(start).Seconds()) + 1
	if n := codes[http.StatusUnauthorized]; n < 30 || n > 30+extra || n+codes[http.StatusTooManyRequests] != 5000 {
		t.Fatalf("answers: %v; want 30 refusals (+%d refilled at most) then 429", codes, extra)
	}
	if st, body := f.api("GET", "/api/v1/devices", viewerToken, ""); st != 200 {
		t.Fatalf("authenticated caller from the flooding address: %d %s", st, body)
	}
	f.srv.refusals.Flush(context.Background())
	l, err := f.srv.Store().AuditLog(context.Background(), store.AuditFilter{Decision: store.Deny})
	if err != nil || len(l) > 4 {
		t.Fatalf("5,000 unauthenticated requests wrote %d audit rows (%v)", len(l), err)
	}
	for _, e := range l {
		t.Logf("audit: %s %s %s: %s", e.Actor, e.Action, e.Subject, e.Reason)
	}
}

// Issue 15, item 10: a NUL or invalid UTF-8 in a path or query is a 400,
// not a database error; no answer carries a database error; /healthz says
// only ok.
func TestHostilePathsAndHealthz(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		for _, p := range []string{"/api/v1/devices/a%00b", "/api/v1/devices/%ff%fe", "/api/v1/audit?subject=%00", "/api/v1/telemetry?device=%00x"} {
			st, body := f.api("GET", p, adminToken, "")
			if st != http.StatusBadRequest || strings.Contains(body, "SQLSTATE") || strings.Contains(body, "store:") {
				t.Errorf("%s: %d %s", p, st, body)
			}
		}
		st, body := f.api("GET", "/healthz", "", "")
		if st != 200 || body != "ok\n" {
			t.Fatalf("healthz: %d %q", st, body)
		}
		// A long path (over PostgreSQL's index entry limit) in a refusal:
		// audited, cut to size.
		long := "/api/v1/devices/" + strings.Repeat("x", 5000)
		if st, _ := f.api("GET", long, "", ""); st != http.StatusUnauthorized {
			t.Fatalf("long path unauthenticated: %d", st)
		}
		l, _ := f.srv.Store().AuditLog(context.Background(), store.AuditFilter{Action: "api GET /api/v1/devices/{id}"})
		if len(l) != 1 || len(l[0].Subject) > 512 {
			t.Fatalf("long path refusal audit: %d rows", len(l))
		}
	})
}

// Issue 15, item 10: /healthz said ok on a read-only SQLite file (every
// write failing); it now commits a no-op write and says unavailable.
func TestHealthzReadOnlyStore(t *testing.T) {
	f := prepareFixture(t, "sqlite")
	f.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	f.srv.Shutdown(ctx)
	cancel()
	db := filepath.Join(f.dir, "data", "fleet.db")
	if out, err := exec.Command("chattr", "+i", db).CombinedOutput(); err != nil {
		t.Skipf("cannot make the database file read-only for root (chattr +i: %v %s); run as root on a file system with attributes", err, out)
	}
	defer exec.Command("chattr", "-i", db).Run()
	f.start()
	if st, body := f.api("GET", "/healthz", "", ""); st != http.StatusServiceUnavailable || body != "unavailable\n" {
		t.Fatalf("healthz on a read-only store: %d %q", st, body)
	}
}

// Audit retention runs at start and then hourly: entries older than
// audit.retention and those beyond audit.max_rows are deleted.
func TestAuditRetentionRuns(t *testing.T) {
	f := prepareFixture(t, "sqlite")
	appendConfig(t, f.cfgPath, "audit: {retention: 720h, max_rows: 1000}\n")
	f.start()
	ctx := context.Background()
	db := f.srv.Store()
	var wg sync.WaitGroup
	for g := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				at := time.Now().Add(-40 * 24 * time.Hour) // older than the retention
				if g >= 10 {
					at = time.Now().Add(-time.Hour)
				}
				if err := db.Audit(ctx, &store.AuditEntry{Time: at.Add(time.Duration(i) * time.Millisecond), Actor: "test", Action: "x", Decision: store.Allow}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ctxS, cancel := context.WithTimeout(ctx, 10*time.Second)
	f.srv.Shutdown(ctxS)
	cancel()
	f.start() // the first pass runs at start
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := f.srv.Store().CountAudit(ctx)
		l, _ := f.srv.Store().AuditLog(ctx, store.AuditFilter{Action: "x", Limit: 5000})
		oldest := time.Now()
		for _, e := range l {
			if e.Time.Before(oldest) {
				oldest = e.Time
			}
		}
		if n <= 1000 && time.Since(oldest) < 30*24*time.Hour {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retention: %d rows, oldest %v", n, oldest)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMQTTLimitsFromConfig: the broker's quotas come from the mqtt:
// section (they were hard-coded defaults): a lower keepalive cap and
// packet size are told in CONNACK, and a SUBSCRIBE beyond the configured
// subscriptions ends the connection.
func TestMQTTLimitsFromConfig(t *testing.T) {
	f := newLimitedFixture(t, "mqtt: {max_keepalive: 20s, max_packet_size: 8192, max_subscriptions: 2}\n")
	if _, err := trust.RegisterRelease(context.Background(), f.srv.Store(), f.release, f.srv.cfg.releaseKeys, "test", "test"); err != nil {
		t.Fatal(err)
	}
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	c, ack, err := d.mqtt("") // asks for a keepalive of 30 s
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	p := ack.Properties
	if p == nil || p.ServerKeepAlive == nil || *p.ServerKeepAlive != 20 || p.MaximumPacketSize == nil || *p.MaximumPacketSize != 8192 {
		t.Fatalf("CONNACK properties %+v, want server keepalive 20 and maximum packet size 8192", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	own := "devices/" + d.id + "/"
	// No SUBACK comes: paho's Subscribe waits for its context.
	go c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: own + "a", QoS: 1}, {Topic: own + "b", QoS: 1}, {Topic: own + "c", QoS: 1}}})
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("three subscriptions kept with mqtt.max_subscriptions 2")
	}
}
