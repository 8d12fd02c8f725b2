package clustertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/sim"
)

// fleetDevices are simulated devices (package sim: flash, bootloader, an
// in-process SPE and the real agent) of a test cluster, each homed on a
// node (device i on node i mod N) and free to move where the agent takes it.
type fleetDevices struct {
	c      *testCluster
	fleets []*sim.Fleet // one per node: its enrollment and MQTT address
	v1     []byte
	devs   []*simDevice // the devices in service
	// retired devices left service (revoked, or a spent spare): their
	// acknowledged telemetry is still checked.
	retired []*simDevice
	version int // the last campaign's firmware is version+1 .0.0
	made    int // devices manufactured so far (their index)
}

// retire takes sd out of service (no more telemetry, campaigns or
// connection checks).
func (fd *fleetDevices) retire(sd *simDevice) {
	for i, o := range fd.devs {
		if o == sd {
			fd.devs = append(fd.devs[:i:i], fd.devs[i+1:]...)
			fd.retired = append(fd.retired, sd)
			return
		}
	}
}

// addDevices manufactures n more devices, imports their endorsements
// through node via and powers them on (homed round robin): enrollment
// while something is failing.
func (fd *fleetDevices) addDevices(ctx context.Context, n, via int) []*simDevice {
	t := fd.c.t
	t.Helper()
	var added []*simDevice
	var list []*sim.Device
	for range n {
		i := fd.made
		fd.made++
		d, err := sim.Manufacture(filepath.Join(fd.c.devDir, fmt.Sprintf("%05d", i)), i, fd.fleets[0], fd.v1)
		if err != nil {
			t.Fatal(err)
		}
		sd := &simDevice{d: d, home: i % len(fd.c.nodes)}
		added = append(added, sd)
		list = append(list, d)
	}
	f := fd.c.joinFleet(fd.c.nodes[via])
	if err := f.Endorse(ctx, list); err != nil {
		t.Fatalf("import endorsements via %s: %v", fd.c.nodes[via].name, err)
	}
	for _, sd := range added {
		fd.startOne(sd, sd.home)
	}
	fd.devs = append(fd.devs, added...)
	return added
}

// simDevice is one device and what the test saw of it.
type simDevice struct {
	d    *sim.Device
	home int

	agent    atomic.Pointer[agent.Agent]
	lastMQTT atomic.Value                    // string: the MQTT address last dialed
	dials    atomic.Int64                    // MQTT dials so far
	job      atomic.Pointer[deviceproto.Job] // the job of the last update taken (its URL carries the download token)
	cancel   context.CancelFunc
	done     chan struct{}

	log lockedBuffer // the agent's log, shown when the device misbehaves

	mu    sync.Mutex
	seq   int
	acked []int // telemetry "seq" values the broker acknowledged
}

// metricSeq is the metric the tests publish: one increasing value a device,
// so every acknowledged message can be found in the store.
const metricSeq = "seq"

// manufacture makes n devices at the factory (keys generated in their
// SPEs, endorsements signed), imports their endorsements and registers
// firmware 1.0.0 through node 0's admin API.
func (c *testCluster) manufacture(ctx context.Context, n int) *fleetDevices {
	t := c.t
	t.Helper()
	fd := &fleetDevices{c: c}
	for _, nd := range c.nodes {
		fd.fleets = append(fd.fleets, c.joinFleet(nd))
	}
	f0 := fd.fleets[0]
	f0.Release = c.release
	v1, err := f0.SignFirmware("1.0.0", 4096)
	if err != nil {
		t.Fatal(err)
	}
	fd.v1 = v1
	if _, _, err := c.api(0).UploadRelease(ctx, v1, "clustertest v1", false); err != nil {
		t.Fatalf("upload release 1.0.0: %v", err)
	}
	fd.devs = make([]*simDevice, n)
	fd.made = n
	var mu sync.Mutex
	var errs error
	parallel(4, n, func(i int) {
		d, err := sim.Manufacture(filepath.Join(c.devDir, fmt.Sprintf("%05d", i)), i, f0, v1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = errors.Join(errs, err)
			return
		}
		fd.devs[i] = &simDevice{d: d, home: i % len(c.nodes)}
	})
	if errs != nil {
		t.Fatal(errs)
	}
	var list []*sim.Device
	for _, sd := range fd.devs {
		list = append(list, sd.d)
	}
	if err := f0.Endorse(ctx, list); err != nil {
		t.Fatalf("import endorsements: %v", err)
	}
	t.Cleanup(fd.stopAll)
	return fd
}

// adopt brings devices manufactured for another test cluster (with the
// same factory and release keys) to c: their endorsements are imported into
// c's database, firmware 1.0.0 registered, and their agents' state (a
// certificate from the other cluster's CA) removed, so they enroll anew.
func (c *testCluster) adopt(ctx context.Context, from *fleetDevices) *fleetDevices {
	t := c.t
	t.Helper()
	fd := &fleetDevices{c: c, v1: from.v1, made: from.made}
	for _, nd := range c.nodes {
		fd.fleets = append(fd.fleets, c.joinFleet(nd))
	}
	if _, _, err := c.api(0).UploadRelease(ctx, fd.v1, "clustertest v1", false); err != nil {
		t.Fatalf("upload release 1.0.0: %v", err)
	}
	var list []*sim.Device
	for i, old := range from.devs {
		old.stop()
		old.d.PowerOff()
		if err := os.Remove(filepath.Join(old.d.Dir, "agent", agent.StateFile)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		fd.devs = append(fd.devs, &simDevice{d: old.d, home: i % len(c.nodes)})
		list = append(list, old.d)
	}
	if err := fd.fleets[0].Endorse(ctx, list); err != nil {
		t.Fatalf("import endorsements: %v", err)
	}
	t.Cleanup(fd.stopAll)
	return fd
}

// joinFleet is the device side of node nd: enrollment and MQTT on it,
// the other nodes' enrollment URLs as fallbacks.
func (c *testCluster) joinFleet(nd *node) *sim.Fleet {
	mk, _ := x509.MarshalPKCS8PrivateKey(c.mfr)
	bk, _ := x509.MarshalPKIXPublicKey(&c.release.PublicKey)
	caPEM := c.caPEM()
	// The other nodes are the devices' fallback enrollment URLs.
	var others []string
	for _, o := range c.nodes {
		if o != nd {
			others = append(others, "https://"+o.enroll)
		}
	}
	f, err := sim.JoinFleet(&sim.JoinFile{EnrollURL: "https://" + nd.enroll, EnrollFallbacks: others, MQTTAddr: nd.mqtt, AdminURL: "https://" + nd.admin,
		CAPEM: caPEM, MfrKeyDER: mk, BootKey: bk})
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// caPEM is the fleet CA certificate in PEM (the node must have started).
func (c *testCluster) caPEM() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caCert == nil {
		c.t.Fatal("the fleet CA is not known yet: start a node first")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.caCert.Raw})
}

// start powers devices [from, to) on, each running its agent against its
// home node, until stop or the end of the test.
func (fd *fleetDevices) start(from, to int) {
	for i := from; i < to; i++ {
		fd.startOne(fd.devs[i], fd.devs[i].home)
	}
}

// startOne runs sd's agent with node k as its configured server. The agent
// dials through a recorder, so the test knows which node it reached.
func (fd *fleetDevices) startOne(sd *simDevice, k int) {
	t := fd.c.t
	if sd.d.Platform() == nil {
		if _, err := sd.d.PowerOn(); err != nil {
			t.Fatalf("device %d: power on: %v", sd.d.Index, err)
		}
	}
	mqttAddrs := map[string]bool{}
	for _, n := range fd.c.nodes {
		mqttAddrs[n.mqtt] = true
	}
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if mqttAddrs[addr] {
			sd.lastMQTT.Store(addr)
			sd.dials.Add(1)
		}
		return d.DialContext(ctx, network, addr)
	}
	hooks := &agent.Hooks{AfterPhase: func(agent.Phase) error {
		if a := sd.agent.Load(); a != nil {
			if u := a.Pending(); u != nil {
				j := u.Job
				sd.job.Store(&j)
			}
		}
		return nil
	}}
	a, err := sd.d.StartAgent(fd.fleets[k], sim.AgentOptions{Dial: dial, Interval: time.Hour, Hooks: hooks,
		Telemetry: func(time.Time) map[string]float64 { return map[string]float64{"up": 1} },
		Backoff:   testBackoff,
		Log:       slog.New(slog.NewTextHandler(&sd.log, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatalf("device %d: agent: %v", sd.d.Index, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sd.agent.Store(a)
	sd.cancel, sd.done = cancel, make(chan struct{})
	go func() {
		defer close(sd.done)
		a.Run(ctx)
	}()
}

// stop ends sd's agent (its MQTT session closes) and waits for it.
func (sd *simDevice) stop() {
	if sd.cancel == nil {
		return
	}
	sd.cancel()
	<-sd.done
	sd.cancel = nil
	if a := sd.agent.Load(); a != nil {
		a.Close()
	}
}

func (fd *fleetDevices) stopAll() {
	for _, sd := range append(fd.devs, fd.retired...) {
		if sd != nil {
			sd.stop()
			sd.d.PowerOff()
		}
	}
}

// id is the device's fleet identity ("" before enrollment).
func (sd *simDevice) id() string {
	if a := sd.agent.Load(); a != nil {
		return a.DeviceID()
	}
	return ""
}

func (sd *simDevice) connected() bool {
	a := sd.agent.Load()
	return a != nil && a.Connected()
}

// node is the index of the node whose MQTT listener sd dialed last.
func (sd *simDevice) node(c *testCluster) int {
	addr, _ := sd.lastMQTT.Load().(string)
	return c.nodeByMQTT(addr)
}

// publishOne sends the device's next telemetry value and records it when
// the broker acknowledged it (acknowledged means durably stored).
func (sd *simDevice) publishOne(ctx context.Context) bool {
	a := sd.agent.Load()
	if a == nil || !a.Connected() {
		return false
	}
	sd.mu.Lock()
	sd.seq++
	v := sd.seq
	sd.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.Publish(pctx, map[string]float64{metricSeq: float64(v)}); err != nil {
		return false
	}
	sd.mu.Lock()
	sd.acked = append(sd.acked, v)
	sd.mu.Unlock()
	return true
}

// burst makes every device publish as fast as its acknowledgements come
// (pause between messages) until ctx ends; it returns at once, and the
// function it returns waits for the publishers and gives the number of
// messages acknowledged.
func (fd *fleetDevices) burst(ctx context.Context, pause time.Duration) (wait func() int64) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for _, sd := range fd.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if sd.publishOne(ctx) {
					n.Add(1)
				} else {
					time.Sleep(50 * time.Millisecond)
				}
				if pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	return func() int64 { wg.Wait(); return n.Load() }
}

// acked is the number of telemetry messages acknowledged to every device.
func (fd *fleetDevices) acked() int {
	n := 0
	for _, sd := range append(append([]*simDevice(nil), fd.devs...), fd.retired...) {
		sd.mu.Lock()
		n += len(sd.acked)
		sd.mu.Unlock()
	}
	return n
}

// waitAll polls cond over every device until it holds for all of them or
// timeout; it returns the devices for which it does not hold.
func (fd *fleetDevices) waitAll(timeout time.Duration, devs []*simDevice, cond func(*simDevice) bool) []*simDevice {
	deadline := time.Now().Add(timeout)
	for {
		var bad []*simDevice
		for _, sd := range devs {
			if !cond(sd) {
				bad = append(bad, sd)
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			return bad
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// onboarded waits until every device enrolled and holds an MQTT session.
func (fd *fleetDevices) onboarded(timeout time.Duration) {
	t := fd.c.t
	t.Helper()
	if bad := fd.waitAll(timeout, fd.devs, func(sd *simDevice) bool { return sd.id() != "" && sd.connected() }); len(bad) > 0 {
		t.Fatalf("%d of %d devices not enrolled and connected within %s (first: device %d, id %q)", len(bad), len(fd.devs), timeout, bad[0].d.Index, bad[0].id())
	}
}

// checkAckedStored fails the test for every acknowledged telemetry message
// that is not in the store: acknowledged means durably stored.
func (fd *fleetDevices) checkAckedStored(ctx context.Context, db *store.DB) (checked int) {
	t := fd.c.t
	t.Helper()
	missing := 0
	for _, sd := range append(append([]*simDevice(nil), fd.devs...), fd.retired...) {
		sd.mu.Lock()
		acked := append([]int(nil), sd.acked...)
		sd.mu.Unlock()
		if len(acked) == 0 {
			continue
		}
		pts, err := db.Points(ctx, store.PointQuery{DeviceID: sd.id(), Metric: metricSeq, Limit: 1 << 30})
		if err != nil {
			t.Fatalf("read telemetry of %s: %v", sd.id(), err)
		}
		have := map[int]bool{}
		for _, p := range pts {
			have[int(p.Value)] = true
		}
		for _, v := range acked {
			checked++
			if !have[v] {
				if missing < 10 {
					t.Errorf("device %s: telemetry seq %d was acknowledged but is not in the store", sd.id(), v)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged telemetry messages are missing from PostgreSQL", missing, checked)
	}
	return checked
}

// enrollment is one enrollment request as a device sent it.
type enrollment struct {
	csr, nonce, token []byte
	at                int // the node that accepted it
}

// replayEnrollment enrolls once at node a and replays the request to every
// node in to (enrollOnce, then replay).
func (fd *fleetDevices) replayEnrollment(ctx context.Context, sd *simDevice, a int, to []int) {
	fd.c.t.Helper()
	fd.replay(ctx, fd.enrollOnce(ctx, sd, a), to)
}

// enrollOnce re-enrolls sd at node a with a fresh key: the device's
// attestation over the server's nonce bound to that key, as the agent does.
// The new certificate supersedes the one sd's agent holds, so its session
// ends: use a device that is not needed afterwards.
func (fd *fleetDevices) enrollOnce(ctx context.Context, sd *simDevice, a int) *enrollment {
	t := fd.c.t
	t.Helper()
	ag := sd.agent.Load()
	if ag == nil {
		t.Fatal("replay: device has no agent")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClient(fd.c.rootPool())
	defer hc.CloseIdleConnections()
	ca := &deviceproto.Client{URL: "https://" + fd.c.nodes[a].enroll, HTTP: hc}
	nonce, err := ca.Nonce(ctx)
	if err != nil {
		t.Fatalf("replay: nonce from %s: %v", fd.c.nodes[a].name, err)
	}
	csr, err := deviceproto.NewCSR(key, rand.Reader, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := deviceproto.Binding(nonce, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ag.Attest(ctx, b)
	if err != nil {
		t.Fatalf("replay: attest: %v", err)
	}
	if _, err := ca.Submit(ctx, true, csr, nonce, tok); err != nil {
		t.Fatalf("replay: first use of the nonce at %s refused: %v", fd.c.nodes[a].name, err)
	}
	return &enrollment{csr: csr, nonce: nonce, token: tok, at: a}
}

// replay submits an accepted enrollment request again to every node in to:
// each must refuse it as a used nonce (or, a node that cannot know the
// nonce, as unknown), never issue a certificate.
func (fd *fleetDevices) replay(ctx context.Context, e *enrollment, to []int) {
	t := fd.c.t
	t.Helper()
	hc := httpClient(fd.c.rootPool())
	defer hc.CloseIdleConnections()
	for _, k := range to {
		cb := &deviceproto.Client{URL: "https://" + fd.c.nodes[k].enroll, HTTP: hc}
		cert, err := cb.Submit(ctx, true, e.csr, e.nonce, e.token)
		var ref *deviceproto.Refusal
		switch {
		case err == nil:
			t.Errorf("replay: %s accepted a nonce already used at %s (certificate %s)", fd.c.nodes[k].name, fd.c.nodes[e.at].name, cert.SerialNumber)
		case errors.As(err, &ref) && (ref.Code == deviceproto.CodeNonceReplayed || ref.Code == deviceproto.CodeNonceUnknown):
			logf(t, "replay at %s of a nonce used at %s refused: %s", fd.c.nodes[k].name, fd.c.nodes[e.at].name, ref.Code)
		default:
			t.Errorf("replay at %s: refused for another reason than the nonce: %v", fd.c.nodes[k].name, err)
		}
	}
}

func parallel(workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// logf prints progress of long runs (go test -v shows it as it happens).
func logf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// lockedBuffer is a log buffer the agent writes and the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// tail is the last n bytes written.
func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	return string(b[max(0, len(b)-n):])
}

// tookJob reports whether the device took a job of campaign id.
func (sd *simDevice) tookJob(id string) bool {
	j := sd.job.Load()
	return j != nil && j.ID == id
}

// testBackoff is the reconnect backoff of the test's agents.
var testBackoff = agent.Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 1000}
