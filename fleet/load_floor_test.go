package fleet

// Issue 24, goal 6 (first half): telemetry durably stored at no less than
// half the acker's rate, the acker being mutual TLS plus MQTT framing with
// nothing stored (load_acker_test.go), with 10,000 devices connected.
// TestLoad measures the two once each, minutes apart; here they alternate
// in rounds inside one run so that a change in the shared machine's speed
// moves both, and the ratio is the median of the per-round ratios.

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
)

var (
	floorFlag   = flag.Bool("fleet.floor", false, "run TestTelemetryFloor (telemetry stored against the acker, alternating rounds; uses the -fleet.devices, -fleet.publishers, -fleet.inflight, -fleet.duration flags)")
	floorRounds = flag.Int("fleet.rounds", 3, "TestTelemetryFloor: fleet/acker rounds")
)

// TestTelemetryFloor enrolls -fleet.devices devices with a server in a
// child process (SQLite, synchronous=FULL), keeps all but the publishers
// connected and idle, then runs rounds of: the publishers against the
// fleet server (acknowledged = durably stored), the same publishers'
// certificates against the acker. It fails when any acknowledged sample
// is missing from the store after kill -9, never on a rate.
func TestTelemetryFloor(t *testing.T) {
	if !*floorFlag {
		t.Skip("telemetry floor: run with -fleet.floor")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	n := *loadDevices
	pubs := min(*loadPubs, n)
	const version = 4
	ensureFiles(t, int64(n+2*pubs+256), fmt.Sprintf("%d connected devices", n))
	f := prepareFixture(t, "sqlite")
	appendConfig(t, f.cfgPath, loadLimits)
	child := f.startChild()
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("register release: %d %s", st, body)
	}
	var devs []*device
	for len(devs) < n { // endorsements in lists of 250: the fixture's HTTP timeout is 10 s, and this machine is shared
		devs = append(devs, f.newDevices(min(250, n-len(devs)))...)
	}
	csrs := precomputeCSRs(t, devs)
	if _, failed, err := enrollAll(f, devs, csrs, *loadWorkers); failed > 0 {
		t.Fatalf("%d of %d enrollments failed; first: %v", failed, n, err)
	}
	idle := connectIdle(t, f, devs[pubs:], version)
	defer func() {
		for _, c := range idle {
			c.conn.Close()
		}
	}()
	addr, pool, acker := startAcker(t, filepath.Join(f.dir, "data", ca.CertFile))
	defer func() { acker.Process.Kill(); acker.Wait() }()
	t.Logf("machine: %d CPUs, GOMAXPROCS %d; %d devices enrolled, %d connected idle, %d publishers x %d in flight, %s a phase; load average %s",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), n, len(idle), pubs, *loadInflight, *loadDuration, loadAvg())

	dial := func(addr string, pool *x509.CertPool, d *device) *rawClient {
		tc := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{d.tlsCert()}, ServerName: "127.0.0.1"}
		c, err := dialRaw(addr, tc, version, d.id, deviceproto.TelemetryTopic(d.id), 3600, *loadInflight)
		if err != nil {
			t.Fatalf("connect %s: %v", d.id, err)
		}
		return c
	}
	phase := func(fleet bool) pubResult {
		clients := make([]*rawClient, pubs)
		for i, d := range devs[:pubs] {
			if fleet {
				clients[i] = dial(f.mqttAddr, f.pool, d)
			} else {
				clients[i] = dial(addr, pool, d)
			}
		}
		pid := acker.Process.Pid
		if fleet {
			pid = child.Process.Pid
		}
		r := runPublish(clients, 1, *loadRefill, *loadWarmup, *loadDuration, time.Minute, []int{pid, os.Getpid()})
		reportPublish(t, map[bool]string{true: "fleet", false: "acker"}[fleet], r)
		return r
	}
	// Rates on these shared cores follow each process's share of them, so
	// next to the measured ratio stands the derived one: both processes
	// of each pair (server and load generator) CPU-bound on dedicated
	// cores, the rate being cores / their CPU per message.
	var ratios, derived []float64
	var acked int64
	for round := range *floorRounds {
		// Alternate which goes first, so neither always meets the other's
		// leftovers (the fleet's compaction, page cache, GC).
		var fl, ak pubResult
		if round%2 == 0 {
			fl, ak = phase(true), phase(false)
		} else {
			ak, fl = phase(false), phase(true)
		}
		acked += fl.acked
		ratio := fl.rate / ak.rate
		ratios = append(ratios, ratio)
		flCPU, akCPU := (fl.cpu[0]+fl.cpu[1])/fl.measured, (ak.cpu[0]+ak.cpu[1])/ak.measured
		derived = append(derived, akCPU/flCPU)
		t.Logf("round %d: fleet %s msgs/s stored (CPU a message: server %.2f us, load generator %.2f us), acker %s msgs/s (%.2f us, %.2f us); fleet/acker %.2f measured, %.2f derived (goal >= 0.5); load average %s",
			round+1, thousands(fl.rate), 1e6*fl.cpu[0]/fl.measured, 1e6*fl.cpu[1]/fl.measured, thousands(ak.rate), 1e6*ak.cpu[0]/ak.measured, 1e6*ak.cpu[1]/ak.measured, ratio, akCPU/flCPU, loadAvg())
	}
	med, dmed := medianOf(ratios), medianOf(derived)
	t.Logf("fleet/acker, median of %d rounds: measured %.2f, derived from CPU per message %.2f (goal >= 0.5: %s measured, %s derived), %d connected devices; load average %s",
		len(ratios), med, dmed, verdict(med, 0.5, true), verdict(dmed, 0.5, true), n, loadAvg())

	stored := storedSamples(t, f, child)
	t.Logf("store after kill -9: %d samples; acknowledged %d", stored, acked)
	if stored < acked {
		t.Errorf("acknowledged %d samples but the store holds %d: acknowledged telemetry lost", acked, stored)
	}
}
