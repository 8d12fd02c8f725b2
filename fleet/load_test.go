package fleet

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// The load test runs only with -fleet.load (about a minute at 2,000
// devices):
//
//	go test ./fleet -run TestLoad -fleet.load -fleet.devices=2000 -v
//
// The server runs in a child process; this process is the load generator.
// Telemetry uses the raw client of load_client_test.go, so that the
// generator's own CPU (which shares the cores) stays small, and is
// compared in the same run with the local Mosquitto and with the acker
// (load_acker_test.go), the floor of mutual TLS plus MQTT framing.
var (
	loadFlag     = flag.Bool("fleet.load", false, "run the load test (enrollment rate, idle memory, telemetry rate)")
	loadDevices  = flag.Int("fleet.devices", 2000, "load test: devices to enroll and keep connected (10,000 fits the 20,000 open-file limit)")
	loadWorkers  = flag.Int("fleet.workers", 32, "load test: concurrent enrollments")
	loadPubs     = flag.Int("fleet.publishers", 200, "load test: publishing devices (connections)")
	loadInflight = flag.Int("fleet.inflight", 32, "load test: QoS 1 messages in flight per publisher (capped by the server's Receive Maximum)")
	loadDuration = flag.Duration("fleet.duration", 5*time.Second, "load test: telemetry measurement time (after -fleet.warmup)")
	loadRefill   = flag.Int("fleet.refill", 8, "load test: a publisher whose window has filled writes again once this many PUBACKs are back (1 = at every PUBACK)")
	loadWarmup   = flag.Duration("fleet.warmup", time.Second, "load test: telemetry warm-up before measuring")
	loadValues   = flag.Int("fleet.values", 1, "load test: metrics (samples) per telemetry message, 1..64")
	loadMQTT5    = flag.Bool("fleet.mqtt5", false, "load test: MQTT 5 instead of 3.1.1")
	loadInProc   = flag.Bool("fleet.inprocess", false, "load test: run the server in this process (for -cpuprofile; memory figures then invalid)")
	loadBaseline = flag.String("fleet.baseline", envOr("RAMPART_TEST_MQTT", "127.0.0.1:1883"), "load test: pass-through MQTT broker (Mosquitto) for the telemetry baseline, plain TCP (default $RAMPART_TEST_MQTT; empty skips)")
	loadAcker    = flag.Bool("fleet.acker", true, "load test: measure the mTLS MQTT acker (the primitive floor) as a second baseline")
)

const envChildPprof = "RAMPART_FLEET_TEST_CHILD_PPROF"

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// loadLimits lift the per-source limits for the load test's single address.
const loadLimits = `limits: {nonce_rate: 1000000, nonce_burst: 1000000, failure_rate: 1000000, failure_burst: 1000000}
http:
  enroll: {max_conns: 100000, max_conns_per_source: 100000}
  admin: {max_conns: 1000, max_conns_per_source: 1000}
`

func appendConfig(t *testing.T, path, extra string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	if !*loadFlag {
		t.Skip("load test: run with -fleet.load")
	}
	// The load generator trades memory for less GC CPU on the cores it
	// shares with the server (the child keeps its own GOGC).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	n := *loadDevices
	pubs := min(*loadPubs, n)
	version := byte(4)
	if *loadMQTT5 {
		version = 5
	}
	mqttName := map[byte]string{4: "MQTT 3.1.1", 5: "MQTT 5"}[version]
	// One file per idle device here, the publishers' baselines after
	// those close, plus the HTTP clients and the store.
	ensureFiles(t, int64(n+pubs+256), fmt.Sprintf("%d idle devices", n))
	var sum summary
	f := prepareFixture(t, "sqlite")
	// Every load device comes from 127.0.0.1, one source for the
	// per-source limits (meant for the Internet, not for a load test).
	appendConfig(t, f.cfgPath, loadLimits)
	memAddr := ""
	if !*loadInProc {
		if memAddr = os.Getenv(envChildPprof); memAddr == "" {
			a, err := freeLoopbackAddr()
			if err != nil {
				t.Fatal(err)
			}
			memAddr = a
			t.Setenv(envChildPprof, memAddr)
		}
	}
	var child *exec.Cmd
	if *loadInProc {
		f.start()
	} else {
		child = f.startChild()
	}
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("register release: %d %s", st, body)
	}
	// Endorsements in lists of 1,000: one import of 10,000 outlasts the
	// fixture's 10 s HTTP timeout on a loaded machine.
	var devs []*device
	for len(devs) < n {
		devs = append(devs, f.newDevices(min(1000, n-len(devs)))...)
	}
	csrs := precomputeCSRs(t, devs)
	t.Logf("machine: %d CPUs, GOMAXPROCS %d, load average %s; server in a child process, load generator in this one", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg())
	srvPID := os.Getpid()
	if child != nil {
		srvPID = child.Process.Pid
	}

	// 1. Crypto-bound limit: the server's cryptography per enrollment on
	// all cores, and the devices' own per enrollment (token signature).
	wallLimit, cryptoCPU := cryptoBound(t, devs[0])
	_, tokenCPU := deviceTokenBound(t, devs[0])
	cores := float64(runtime.GOMAXPROCS(0))
	// The limit on dedicated cores: cores / CPU per enrollment. The wall
	// rate of the same loop is lower when other work shares the cores.
	limit := cores / cryptoCPU.Seconds()
	t.Logf("crypto-bound limit (token verify + CSR verify + certificate sign): %.0f us CPU per enrollment = %.0f enrollments/s on %.0f cores (wall rate of the loop on the shared cores: %.0f/s); device token signature %.0f us CPU", us(cryptoCPU), limit, cores, wallLimit, us(tokenCPU))

	// 2. Enrollments end to end over HTTPS (keep-alive per worker).
	esrv0, eself0 := cpuTicks(t, srvPID), cpuTicks(t, os.Getpid())
	rate, failed, ferr := enrollAll(f, devs, csrs, *loadWorkers)
	esrv1, eself1 := cpuTicks(t, srvPID), cpuTicks(t, os.Getpid())
	if failed > 0 {
		t.Errorf("%d of %d enrollments failed; first: %v", failed, n, ferr)
	}
	t.Logf("enrollment end to end: %d devices, %d workers: %.0f/s; %.0f%% of the crypto-bound limit (goal >= 3000/s); load average %s", n, *loadWorkers, rate, 100*rate/limit, loadAvg())
	sum.add("enrollments/s end to end", fmt.Sprintf("%s/s (%.0f%% of crypto-bound %s/s)", thousands(rate), 100*rate/limit, thousands(limit)), ">= 3,000/s: "+verdict(rate, 3000, true))
	if child != nil {
		okN := float64(int64(n) - failed)
		srvUS, selfUS := 1e6*ticksSec(esrv1-esrv0)/okN, 1e6*ticksSec(eself1-eself0)/okN
		cryptoUS, tokUS := us(cryptoCPU), us(tokenCPU)
		t.Logf("CPU per enrollment: server %.0f us (crypto %.0f, rest %.0f); load generator %.0f us (device token signature %.0f, rest %.0f; CSRs made beforehand)", srvUS, cryptoUS, srvUS-cryptoUS, selfUS, tokUS, selfUS-tokUS)
		sum.add("server CPU per enrollment", fmt.Sprintf("%.0f us (crypto %.0f, rest %.0f)", srvUS, cryptoUS, srvUS-cryptoUS), fmt.Sprintf("<= %.0f us for 3,000/s on %.0f cores", 1e6*cores/3000, cores))
		sum.add("load generator CPU per enrollment", fmt.Sprintf("%.0f us (token signature %.0f)", selfUS, tokUS), "")
	}

	// 3. Memory per idle connected device: a fresh server process on the
	// same data, so the enrollment burst's garbage does not blur it.
	pid := os.Getpid()
	if child != nil {
		child.Process.Kill()
		child.Wait()
		child = f.startChild()
		pid = child.Process.Pid
		srvPID = pid
		if lim, err := openFileLimit(pid); err == nil && lim < int64(n+128) {
			t.Fatalf("the server child may open %d files; %d idle devices need more", lim, n)
		}
		time.Sleep(time.Second)
	}
	// The baseline after a forced GC and scavenge (when the child serves
	// its runtime figures), so that start-up garbage does not count.
	mem0, memErr := childMem{}, error(nil)
	if memAddr != "" {
		mem0, memErr = fetchChildMem(memAddr)
	}
	rss0 := rssKB(t, pid)
	clients := connectIdle(t, f, devs, version)
	time.Sleep(2 * time.Second) // let the server settle
	rss1 := rssKB(t, pid)
	nc := float64(len(clients))
	perDev := float64(rss1-rss0) / nc
	t.Logf("idle connections (%s, keepalive 3600 s): %d; server RSS %d KB -> %d KB 2 s later: %.1f KB per idle mTLS device (goal <= 20 KB)", mqttName, len(clients), rss0, rss1, perDev)
	sum.add(fmt.Sprintf("server RSS per idle mTLS device (%d devices)", len(clients)), fmt.Sprintf("%.1f KB", perDev), "<= 20 KB: "+verdict(perDev, 20, false))
	if memAddr != "" {
		mem1, err := fetchChildMem(memAddr)
		if memErr == nil {
			memErr = err
		}
		if memErr != nil {
			t.Logf("child runtime figures unavailable: %v", memErr)
		} else {
			rss2 := rssKB(t, pid)
			scav := float64(rss2-rss0) / nc
			heap := (float64(mem1.HeapInuse) - float64(mem0.HeapInuse)) / nc / 1024
			stack := (float64(mem1.StackInuse) - float64(mem0.StackInuse)) / nc / 1024
			other := (float64(mem1.Sys-mem1.HeapSys) - float64(mem0.Sys-mem0.HeapSys)) / nc / 1024
			gor := float64(mem1.Goroutines-mem0.Goroutines) / nc
			t.Logf("after a forced GC and scavenge: RSS %d KB = %.1f KB per idle device; child Go runtime growth per idle device: heap in use %.1f KB, stack in use %.1f KB, Sys outside the heap %.1f KB, %.2f goroutines", rss2, scav, heap, stack, other, gor)
			sum.add("  RSS per idle device after forced GC + scavenge", fmt.Sprintf("%.1f KB", scav), "")
			sum.add("  of which heap in use / stacks in use", fmt.Sprintf("%.1f KB / %.1f KB, %.1f goroutines", heap, stack, gor), "")
		}
	}

	// 4. Telemetry through the fleet server: acknowledged = durably
	// stored (the broker acknowledges after the commit).
	// Each publisher's window is -fleet.inflight, capped at connection
	// time by the server's Receive Maximum (MQTT 5); no reconnection.
	self := os.Getpid()
	res := runPublish(clients[:pubs], *loadValues, *loadRefill, *loadWarmup, *loadDuration, time.Minute, []int{srvPID, self})
	for _, c := range clients[pubs:] {
		c.conn.Close()
	}
	fleetRate := res.rate
	reportPublish(t, "fleet server", res)
	t.Logf("telemetry through the fleet server (mTLS, %s, QoS 1, %d publishers x %d in flight, %d samples a message, %d other devices idle): %.0f messages/s acknowledged = %.0f samples/s (goal >= 200000/s); load average %s",
		mqttName, pubs, res.window, *loadValues, n-pubs, res.rate, res.rate*float64(*loadValues), loadAvg())
	sum.add(fmt.Sprintf("telemetry msgs/s stored (%d pubs x %d in flight, %d sample/msg)", pubs, res.window, *loadValues), thousands(res.rate)+"/s", ">= 200,000/s: "+verdict(res.rate, 200000, true))
	sum.add("telemetry samples/s stored", thousands(res.rate*float64(*loadValues))+"/s", "")
	if res.measured > 0 {
		su, lu := 1e6*res.cpu[0]/res.measured, 1e6*res.cpu[1]/res.measured
		t.Logf("CPU during telemetry: server %.1f s (%.1f us/message), load generator %.1f s (%.1f us/message); %d cores", res.cpu[0], su, res.cpu[1], lu, runtime.NumCPU())
		sum.add("server CPU per message", fmt.Sprintf("%.1f us", su), fmt.Sprintf("<= %.0f us for 200,000/s on %.0f cores", 1e6*cores/200000, cores))
		sum.add("  derived: cores / server CPU per message", thousands(cores*1e6/su)+" msgs/s", "the rate on dedicated cores if CPU-bound")
		sum.add("load generator CPU per message", fmt.Sprintf("%.1f us", lu), "")
	}
	// Durably stored, not just acknowledged: kill the server (SIGKILL, no
	// flush) and count the samples in its database.
	stored := storedSamples(t, f, child)
	want := res.acked * int64(*loadValues)
	how := "after kill -9"
	if child == nil {
		how = "(in process, not killed)"
	}
	t.Logf("store %s: %d samples; acknowledged %d messages = %d samples", how, stored, res.acked, want)
	if stored < want {
		t.Errorf("acknowledged %d samples but the store holds %d: acknowledged telemetry lost", want, stored)
	}
	sum.add("acknowledged samples found in the store "+how, fmt.Sprintf("%d of %d", min(stored, want), want), "all: "+map[bool]string{true: "met", false: "missed"}[stored >= want])

	// 5. Baselines, same raw client, same publishers and window.
	if *loadBaseline != "" {
		base := mosquittoBaseline(t, *loadBaseline, version, pubs)
		if base.measured > 0 {
			reportPublish(t, "Mosquitto "+*loadBaseline, base)
			t.Logf("pass-through baseline: Mosquitto %s (plain TCP, %s, QoS 1, %d x %d in flight, nothing stored): %.0f messages/s; fleet/Mosquitto = %.2f", *loadBaseline, mqttName, pubs, base.window, base.rate, fleetRate/base.rate)
			sum.add(fmt.Sprintf("Mosquitto (plain TCP, QoS 1, %d in flight, stores nothing) msgs/s", base.window), fmt.Sprintf("%s/s (fleet/Mosquitto %.2f)", thousands(base.rate), fleetRate/base.rate), "")
			if len(base.cpu) > 1 && base.cpu[1] > 0 {
				sum.add("  Mosquitto CPU / load generator CPU per message", fmt.Sprintf("%.1f us / %.1f us", 1e6*base.cpu[1]/base.measured, 1e6*base.cpu[0]/base.measured), "")
			} else {
				sum.add("  load generator CPU per message", fmt.Sprintf("%.1f us", 1e6*base.cpu[0]/base.measured), "")
			}
		}
	}
	if *loadAcker {
		ack := ackerBaseline(t, f, devs[:pubs], version)
		reportPublish(t, "acker", ack)
		if ack.measured > 0 {
			t.Logf("primitive baseline: acker child (mTLS, %s, QoS 1, %d x %d in flight, parse + PUBACK, nothing stored): %.0f messages/s; fleet/acker = %.2f", mqttName, pubs, ack.window, ack.rate, fleetRate/ack.rate)
			sum.add(fmt.Sprintf("acker (mTLS + MQTT framing only, %d in flight) msgs/s", ack.window), fmt.Sprintf("%s/s (fleet/acker %.2f)", thousands(ack.rate), fleetRate/ack.rate), "")
			sum.add("  acker CPU / load generator CPU per message", fmt.Sprintf("%.1f us / %.1f us", 1e6*ack.cpu[0]/ack.measured, 1e6*ack.cpu[1]/ack.measured), "")
		}
	}

	// 6. The store alone: batched inserts, the durable-write bound.
	full, normal := storeBound(t, ""), storeBound(t, "NORMAL")
	t.Logf("store alone (5000-sample transactions): SQLite synchronous=FULL (the default) %.0f samples/s, NORMAL (not power-cut safe) %.0f samples/s", full, normal)
	sum.add("store alone, SQLite FULL (NORMAL), samples/s", fmt.Sprintf("%s/s (%s/s)", thousands(full), thousands(normal)), "")
	t.Logf("summary (%s, %d CPUs, load average now %s):\n%s", mqttName, runtime.NumCPU(), loadAvg(), sum.String())
}

// connectIdle connects every enrolled device with the raw client.
func connectIdle(t *testing.T, f *fixture, devs []*device, version byte) []*rawClient {
	clients := make([]*rawClient, len(devs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(devs); i = int(next.Add(1)) - 1 {
				d := devs[i]
				if d.cert == nil {
					continue
				}
				tc := &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{d.tlsCert()}, ServerName: "127.0.0.1"}
				c, err := dialRaw(f.mqttAddr, tc, version, d.id, deviceproto.TelemetryTopic(d.id), 3600, *loadInflight)
				if err != nil {
					t.Errorf("connect device %d: %v", i, err)
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	out := clients[:0]
	for _, c := range clients {
		if c != nil {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatal("no device connected")
	}
	return out
}

func reportPublish(t *testing.T, what string, r pubResult) {
	t.Helper()
	t.Logf("%s: %d connections x %d in flight: %.0f acknowledged messages/s; phase total %d acknowledged, %d refused, %d unanswered, %d out of order, %d errors %q",
		what, r.conns, r.window, r.rate, r.acked, r.refused, r.lost, r.ooo, r.errs, r.firstErrs)
	if r.ooo > 0 || r.errs > 0 || r.lost > 0 || r.refused > 0 {
		t.Errorf("%s: %d out-of-order PUBACKs, %d refused, %d unanswered, %d errors (first: %q)", what, r.ooo, r.refused, r.lost, r.errs, r.firstErrs)
	}
}

// storedSamples kills the server (the child) and counts the telemetry
// samples in its database.
func storedSamples(t *testing.T, f *fixture, child *exec.Cmd) int64 {
	ctx := context.Background()
	if child == nil {
		n, err := f.srv.Store().CountPoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	child.Process.Kill()
	child.Wait()
	db, err := store.Open(ctx, filepath.Join(f.dir, "data", "fleet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountPoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mosquittoBaseline publishes the same load to a pass-through broker over
// plain TCP; a zero result when it is unreachable.
func mosquittoBaseline(t *testing.T, addr string, version byte, pubs int) pubResult {
	tag := strconv.Itoa(os.Getpid())
	clients := make([]*rawClient, 0, pubs)
	for i := range pubs {
		id := "rampart-load-" + tag + "-" + strconv.Itoa(i)
		c, err := dialRaw(addr, nil, version, id, "rampart/load/"+tag+"/"+strconv.Itoa(i), 3600, *loadInflight)
		if err != nil {
			t.Logf("baseline broker %s: connection %d: %v: Mosquitto baseline SKIPPED", addr, i, err)
			for _, c := range clients {
				c.conn.Close()
			}
			return pubResult{}
		}
		clients = append(clients, c)
	}
	pids := []int{os.Getpid()}
	if p := findProcess("mosquitto"); p != 0 {
		pids = append(pids, p)
	}
	return runPublish(clients, *loadValues, *loadRefill, *loadWarmup, *loadDuration, time.Minute, pids)
}

// ackerBaseline publishes the same load to the acker child with the
// devices' certificates.
func ackerBaseline(t *testing.T, f *fixture, devs []*device, version byte) pubResult {
	addr, pool, cmd := startAcker(t, filepath.Join(f.dir, "data", ca.CertFile))
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	clients := make([]*rawClient, 0, len(devs))
	for _, d := range devs {
		if d.cert == nil {
			continue
		}
		tc := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{d.tlsCert()}, ServerName: "127.0.0.1"}
		c, err := dialRaw(addr, tc, version, d.id, deviceproto.TelemetryTopic(d.id), 3600, *loadInflight)
		if err != nil {
			t.Fatalf("acker: %v", err)
		}
		clients = append(clients, c)
	}
	return runPublish(clients, *loadValues, *loadRefill, *loadWarmup, *loadDuration, time.Minute, []int{cmd.Process.Pid, os.Getpid()})
}

func storeBound(t *testing.T, synchronous string) float64 {
	db, err := store.Open(context.Background(), t.TempDir()+"/bound.db", store.Options{SQLiteSynchronous: synchronous})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	batch := make([]store.Point, 5000)
	now := time.Now()
	for i := range batch {
		batch[i] = store.Point{DeviceID: fmt.Sprintf("%032x", i%500), Metric: "v", Time: now, Value: 1.5}
	}
	n := 0
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		if err := db.InsertPoints(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		n += len(batch)
	}
	return float64(n) / time.Since(start).Seconds()
}
