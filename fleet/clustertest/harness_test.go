package clustertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet"
	"rampart/fleet/ca"
	"rampart/fleet/cluster/natstest"
	"rampart/fleet/store"
	"rampart/internal/proc"
	"rampart/internal/secfile"
	"rampart/sim"
)

var (
	long        = flag.Bool("cluster.long", false, "run the long cluster tests (300+ devices, every scenario at full size)")
	bench       = flag.Bool("cluster.bench", false, "run the scale-out benchmark (1, 2, 3 nodes against one node on PostgreSQL)")
	devicesFlag = flag.Int("cluster.devices", 0, "devices in the long tests and the benchmark (default 300)")
	keepLogs    = flag.Bool("cluster.logs", false, "print every node's log at the end of each test")
	logDir      = flag.String("cluster.logdir", "", "copy every node's log into this directory at the end of each test (TEST-NODE.log)")
)

// envPostgres names the PostgreSQL server the tests create databases on.
const envPostgres = "RAMPART_TEST_POSTGRES"

// adminToken is every node's admin API token (the simulator's: its
// endorsement import goes through the admin API with it).
const adminToken = sim.AdminToken

// deviceCount is how many devices a scenario runs: short in the default
// run, 300 (or -cluster.devices) with -cluster.long.
func deviceCount(short int) int {
	if *devicesFlag > 0 && (*long || *bench) {
		return *devicesFlag
	}
	if *long || *bench {
		return 300
	}
	return short
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// rampartBinary builds cmd/rampart once per test run (go build caches the
// work across runs) and returns its path.
func rampartBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "rampart-clustertest-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rampart")
		cmd := exec.Command("go", "build", "-o", binPath, "rampart/cmd/rampart")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("go build rampart/cmd/rampart: %v\n%s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// postgresDB creates a fresh database rampart_ct_<random> on the server
// RAMPART_TEST_POSTGRES names, dropped (connections and all) when the test
// ends, and returns its URL. It skips the test when the variable is unset.
func postgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv(envPostgres)
	if base == "" {
		t.Skipf("cluster tests need PostgreSQL: set %s to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", envPostgres)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "rampart_ct_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("postgres: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Logf("postgres: drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", envPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// freePort returns a loopback address nothing listens on now (a node keeps
// its addresses across restarts, so they are chosen before it starts),
// never one it returned before: the kernel may hand a closed port out
// again, and two nodes were given the same one (bind: address already in
// use).
func freePort(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !portsGiven[addr] {
			portsGiven[addr] = true
			return addr
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[string]bool{}
)

// clusterOptions shape a test fleet.
type clusterOptions struct {
	Nodes int
	// NATS runs a three-node NATS cluster and writes the cluster: section
	// into every node's configuration. Without it the nodes are plain
	// servers on one PostgreSQL database (only one of them makes sense).
	NATS bool
	// DSN reuses a database; empty creates one.
	DSN string
	// Mfr and Release, when set, are the factory's endorsement key and the
	// release signing key (the benchmark reuses its devices across
	// clusters); new ones otherwise.
	Mfr, Release *ecdsa.PrivateKey
	// DeviceDir holds the devices' files (default: in the cluster's
	// directory, removed with the test that made it).
	DeviceDir string
}

// testCluster is N rampart server processes on one PostgreSQL database,
// optionally with a NATS cluster, plus the keys the simulated devices'
// factory and release signer hold.
type testCluster struct {
	t      testing.TB
	dir    string
	devDir string // the simulated devices' files
	dsn    string
	nats   *natstest.Cluster
	nodes  []*node
	pass   string

	mfr, release *ecdsa.PrivateKey

	mu     sync.Mutex
	roots  *x509.CertPool
	caCert *x509.Certificate
}

// node is one rampart server process and the addresses it keeps across
// restarts.
type node struct {
	c                   *testCluster
	name                string
	dir, cfgPath        string
	enroll, admin, mqtt string // host:port
	logPath             string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// newCluster writes keys and configurations; startAll starts the nodes.
func newCluster(t testing.TB, o clusterOptions) *testCluster {
	t.Helper()
	if o.Nodes < 1 {
		o.Nodes = 1
	}
	c := &testCluster{t: t, dir: t.TempDir(), dsn: o.DSN, devDir: o.DeviceDir}
	if c.devDir == "" {
		c.devDir = filepath.Join(c.dir, "devices")
	}
	if c.dsn == "" {
		c.dsn = postgresDB(t)
	}
	rampartBinary(t)
	var err error
	c.mfr, c.release = o.Mfr, o.Release
	if c.mfr == nil {
		if c.mfr, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	if c.release == nil {
		if c.release, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	for name, k := range map[string]*ecdsa.PrivateKey{"manufacturer.pub.pem": c.mfr, "release.pub.pem": c.release} {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err := secfile.WriteFile(filepath.Join(c.dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
			t.Fatal(err)
		}
	}
	var pass [18]byte
	rand.Read(pass[:])
	c.pass = hex.EncodeToString(pass[:])
	if o.NATS {
		c.nats = natstest.Start(t, 3)
		if !c.nats.WaitFormed(30 * time.Second) {
			t.Fatal("nats: the three servers did not form a JetStream cluster within 30s")
		}
	}
	for i := range o.Nodes {
		c.addNode(fmt.Sprintf("node%d", i))
	}
	t.Cleanup(c.stopAll)
	return c
}

// addNode writes the configuration of one more node (not started).
func (c *testCluster) addNode(name string) *node {
	n := &node{c: c, name: name, dir: filepath.Join(c.dir, name),
		enroll: freePort(c.t), admin: freePort(c.t), mqtt: freePort(c.t)}
	if err := secfile.MkdirAll(n.dir); err != nil {
		c.t.Fatal(err)
	}
	n.cfgPath = filepath.Join(n.dir, "server.yaml")
	n.logPath = filepath.Join(n.dir, "server.log")
	if err := secfile.WriteFile(n.cfgPath, []byte(c.config(n))); err != nil {
		c.t.Fatal(err)
	}
	c.nodes = append(c.nodes, n)
	return n
}

// config is a node's server.yaml: every node on the test's database, the
// limits of a fleet whose devices all come from 127.0.0.1, and with NATS
// the cluster: section (docs/scale-out.md, Configuration).
func (c *testCluster) config(n *node) string {
	s := fmt.Sprintf(`data_dir: data
database: %q
server_names: [localhost, 127.0.0.1]
listen: {enroll: %q, admin: %q, mqtt: %q}
ca: {name: Rampart cluster test CA, passphrase_env: RAMPART_CA_PASSPHRASE, cert_ttl: 168h}
manufacturers: [{name: sim, public_key: ../manufacturer.pub.pem}]
release_keys: [../release.pub.pem]
api_tokens: [{name: test, role: admin, sha256: %s}]
telemetry: {max_delay: 2ms}
campaigns: {tick: 200ms}
log: {level: info, format: text}
limits: {nonce_rate: 1000000, nonce_burst: 1000000, failure_rate: 1000000, failure_burst: 1000000}
http: {enroll: {max_conns: 100000, max_conns_per_source: 100000}, admin: {max_conns: 1024, max_conns_per_source: 1024}}
mqtt: {max_handshakes_per_source: 65536}
`, c.dsn, n.enroll, n.admin, n.mqtt, fleet.TokenSHA256(adminToken))
	if c.nats != nil {
		// Each node advertises its own endpoints; the enrollment answer
		// names the live peers' from the cluster's registry.
		s += fmt.Sprintf("cluster: {nats: [%s], node: %s, advertise: {mqtt: [%q], enroll: %q}}\n",
			strings.Join(quoteAll(c.nats.URLs()), ", "), n.name, n.mqtt, "https://"+n.enroll)
	}
	return s
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// requireClusterSupport skips the test, naming the missing feature, when
// this build's `rampart server` does not accept a cluster: section.
func requireClusterSupport(t testing.TB) {
	t.Helper()
	if err := clusterSupported(t); err != nil {
		t.Skipf("missing feature: %v", err)
	}
}

var (
	clusterProbeOnce sync.Once
	clusterProbeErr  error
)

// clusterSupported checks a configuration with a cluster: section offline
// with --check-config: the probe of c17-core's `cluster:` support.
func clusterSupported(t testing.TB) error {
	bin := rampartBinary(t)
	clusterProbeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rampart-clustertest-probe-")
		if err != nil {
			clusterProbeErr = err
			return
		}
		defer os.RemoveAll(dir)
		cfg := "data_dir: data\ndatabase: postgres://x@127.0.0.1:1/x\ncluster: {nats: [\"nats://127.0.0.1:4222\"], node: probe, advertise: {mqtt: [\"127.0.0.1:8883\"], enroll: \"https://127.0.0.1:8443\"}}\n"
		p := filepath.Join(dir, "server.yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			clusterProbeErr = err
			return
		}
		out, err := exec.Command(bin, "server", "--config", p, "--check-config", "--offline").CombinedOutput()
		if err != nil {
			clusterProbeErr = fmt.Errorf("`rampart server` does not accept the cluster: section (stateless nodes on PostgreSQL and NATS, c17-core): %v: %s", err, strings.TrimSpace(string(out)))
		}
	})
	return clusterProbeErr
}

// startAll starts every node (in order) and waits until each is ready.
func (c *testCluster) startAll() {
	c.t.Helper()
	for _, n := range c.nodes {
		n.start()
	}
}

// stopAll kills whatever still runs and, when the test failed or
// -cluster.logs asks, prints the nodes' logs.
func (c *testCluster) stopAll() {
	for _, n := range c.nodes {
		n.kill()
	}
	if *logDir != "" {
		c.copyLogs(*logDir)
	}
	if c.t.Failed() || *keepLogs {
		for _, n := range c.nodes {
			b, _ := os.ReadFile(n.logPath)
			if len(b) > 16<<10 && !*keepLogs {
				b = b[len(b)-16<<10:]
			}
			c.t.Logf("=== %s log (%s):\n%s", n.name, n.logPath, b)
		}
	}
}

// start runs the node's process and waits until it is ready.
func (n *node) start() { n.startWithin(60 * time.Second) }

// startWithin is start waiting up to ready for the node to answer
// /readyz and /healthz: the 10,000-device bench restarts its node under
// every device reconnecting at once, from the same loaded test process
// that asks.
func (n *node) startWithin(ready time.Duration) {
	t := n.c.t
	t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rampartBinary(t), "server", "--config", n.cfgPath)
	cmd.Env = append(os.Environ(), "RAMPART_CA_PASSPHRASE="+n.c.pass)
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "--- clustertest: start %d of %s at %s\n", n.starts+1, n.name, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.starts++
	n.mu.Unlock()
	if err := n.waitReady(ready); err != nil {
		b, _ := os.ReadFile(n.logPath)
		t.Fatalf("%s did not become ready: %v\nlog:\n%s", n.name, err, tail(b, 8<<10))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// running reports whether the node's process is alive.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// pid is the node's process ID (0 when it does not run).
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// cpu is the node process's user+system CPU time so far.
func (n *node) cpu() time.Duration {
	ticks, err := proc.CPUTicks(n.pid())
	if err != nil {
		return 0
	}
	return time.Duration(ticks) * proc.ClockTick
}

// kill ends the process with SIGKILL (no cleanup at all) and waits for it.
func (n *node) kill() {
	n.signal(syscall.SIGKILL, 10*time.Second)
}

// term sends SIGTERM (a graceful shutdown, or a drain once the node
// supports it) and waits up to timeout for the exit; it returns the exit
// error (nil for exit 0).
func (n *node) term(timeout time.Duration) error {
	return n.signal(syscall.SIGTERM, timeout)
}

func (n *node) signal(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return exitErr(cmd.ProcessState)
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s: no exit within %s of %v: killed", n.name, timeout, sig)
	}
	return exitErr(cmd.ProcessState)
}

// waitReady polls the admin listener until the node answers ready:
// /readyz when the node serves it, /healthz (the store takes writes)
// otherwise.
func (n *node) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if !n.running() {
			return errors.New("the process exited")
		}
		roots, err := n.c.caPool(n)
		if err == nil {
			last = n.ready(roots)
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

func (n *node) ready(roots *x509.CertPool) error {
	hc := httpClient(roots)
	defer hc.CloseIdleConnections()
	for _, p := range []string{"/readyz", "/healthz"} {
		resp, err := hc.Get("https://" + n.admin + p)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusNotFound: // no /readyz in this build: ask /healthz
			continue
		default:
			return fmt.Errorf("%s: %s", p, resp.Status)
		}
	}
	return errors.New("neither /readyz nor /healthz answered")
}

func httpClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}

// caPool is the fleet CA every node issues under: from the first node's
// data directory once it wrote ca.crt, or else (a CA kept in the store)
// from the node's EST /cacerts, fetched once without verification to
// bootstrap trust and then checked against every node's TLS certificate.
func (c *testCluster) caPool(n *node) (*x509.CertPool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roots != nil {
		return c.roots, nil
	}
	var cert *x509.Certificate
	if b, err := os.ReadFile(filepath.Join(n.dir, "data", ca.CertFile)); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM", ca.CertFile)
		}
		if cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
			return nil, err
		}
	} else {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} // bootstrap only
		defer hc.CloseIdleConnections()
		certs, err := (&deviceproto.Client{URL: "https://" + n.enroll, HTTP: hc}).CACerts(context.Background())
		if err != nil {
			return nil, err
		}
		cert = certs[len(certs)-1]
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c.roots, c.caCert = pool, cert
	return pool, nil
}

// roots is the fleet CA pool (after the first node started).
func (c *testCluster) rootPool() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roots
}

// api is an admin API client of node i.
func (c *testCluster) api(i int) *adminapi.Client {
	return adminapi.NewClient("https://"+c.nodes[i].admin, adminToken, c.rootPool())
}

// store opens the test's database (closed at the end of the test) to read
// what the nodes committed.
func (c *testCluster) store() *store.DB {
	c.t.Helper()
	db, err := store.Open(context.Background(), c.dsn, store.Options{})
	if err != nil {
		c.t.Fatalf("open store: %v", err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// nodeByMQTT maps an MQTT address to its node's index (-1 if none).
func (c *testCluster) nodeByMQTT(addr string) int {
	for i, n := range c.nodes {
		if n.mqtt == addr {
			return i
		}
	}
	return -1
}

// exitErr is nil for a process that exited 0, else its status.
func exitErr(ps *os.ProcessState) error {
	if ps == nil || ps.Success() {
		return nil
	}
	return fmt.Errorf("exited: %s", ps.String())
}

// copyLogs copies every node's log to dir as TEST-NODE.log, to be read
// after the test's temporary directory is gone (-cluster.logdir).
func (c *testCluster) copyLogs(dir string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Logf("-cluster.logdir: %v", err)
		return
	}
	test := strings.NewReplacer("/", "_", " ", "_").Replace(c.t.Name())
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.logPath)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, test+"-"+n.name+".log"), b, 0o600)
		}
		if err != nil {
			c.t.Logf("-cluster.logdir: %s: %v", n.name, err)
		}
	}
}
