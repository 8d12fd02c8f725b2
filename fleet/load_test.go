package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/attest"
	"rampart/fleet/broker"
	"rampart/fleet/ca"
	"rampart/fleet/enroll"
	"rampart/fleet/store"
)

// The load test runs only with -fleet.load (it takes about a minute):
//
//	go test ./fleet -run TestLoad -fleet.load -fleet.devices=2000 -v
var (
	loadFlag     = flag.Bool("fleet.load", false, "run the load test (enrollment rate, idle memory, telemetry rate)")
	loadDevices  = flag.Int("fleet.devices", 2000, "load test: devices to enroll and keep connected")
	loadWorkers  = flag.Int("fleet.workers", 32, "load test: concurrent enrollments")
	loadPubs     = flag.Int("fleet.publishers", 200, "load test: publishing devices")
	loadInflight = flag.Int("fleet.inflight", 8, "load test: QoS 1 messages in flight per publisher")
	loadDuration = flag.Duration("fleet.duration", 5*time.Second, "load test: telemetry measurement time")
	loadValues   = flag.Int("fleet.values", 1, "load test: metrics (samples) per telemetry message, 1..64")
	loadInProc   = flag.Bool("fleet.inprocess", false, "load test: run the server in this process (for -cpuprofile; memory figures then invalid)")
	loadBaseline = flag.String("fleet.baseline", envOr("RAMPART_TEST_MQTT", "127.0.0.1:1883"), "load test: pass-through MQTT broker for the telemetry baseline (default $RAMPART_TEST_MQTT; empty skips)")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestLoad(t *testing.T) {
	if !*loadFlag {
		t.Skip("load test: run with -fleet.load")
	}
	n := *loadDevices
	f := prepareFixture(t, "sqlite")
	var child *exec.Cmd
	if *loadInProc {
		f.start()
	} else {
		child = f.startChild()
	}
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("register release: %d %s", st, body)
	}
	devs := f.newDevices(n)
	t.Logf("machine: %d CPUs, GOMAXPROCS %d; server in a child process, load generator in this one", runtime.NumCPU(), runtime.GOMAXPROCS(0))

	// 1. Crypto-bound limit: the server's cryptography per enrollment
	// (verify the token, verify the CSR, sign the certificate) on all cores.
	limit := cryptoBound(t, f, devs[0])
	t.Logf("crypto-bound limit (token verify + CSR verify + certificate sign, %d goroutines): %.0f enrollments/s", runtime.GOMAXPROCS(0), limit)
	deviceSide := deviceCryptoBound(t, devs[0])
	t.Logf("device-side cryptography per enrollment (CSR sign + token sign), same machine: %.0f/s", deviceSide)

	// 2. Enrollments end to end over HTTPS (connections kept alive per worker).
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}, MaxIdleConnsPerHost: *loadWorkers}}
	next := atomic.Int64{}
	var failed atomic.Int64
	srvPID := os.Getpid()
	if child != nil {
		srvPID = child.Process.Pid
	}
	esrv0, eself0 := cpuTicks(t, srvPID), cpuTicks(t, os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	for range *loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d := devs[i]
				cl := &enroll.Client{URL: f.enrollURL, HTTP: hc}
				cert, err := cl.Enroll(context.Background(), d.key, rand.Reader, d.attest, false)
				if err != nil {
					failed.Add(1)
					continue
				}
				d.cert = cert
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	rate := float64(n-int(failed.Load())) / el.Seconds()
	t.Logf("enrollment end to end: %d devices in %v = %.0f/s (%d failed); %.0f%% of the crypto-bound limit (goal >= 3000/s)", n, el.Round(time.Millisecond), rate, failed.Load(), 100*rate/limit)
	if child != nil {
		esrv1, eself1 := cpuTicks(t, srvPID), cpuTicks(t, os.Getpid())
		t.Logf("CPU during enrollment: server %.2f s (%.0f us/enrollment; crypto alone %.0f us), load generator %.2f s (%.0f us/enrollment; device crypto alone %.0f us); %d cores", ticksSec(esrv1-esrv0), 1e6*ticksSec(esrv1-esrv0)/float64(n), 1e6*float64(runtime.GOMAXPROCS(0))/limit, ticksSec(eself1-eself0), 1e6*ticksSec(eself1-eself0)/float64(n), 1e6*float64(runtime.GOMAXPROCS(0))/deviceSide, runtime.NumCPU())
	}

	// 3. Memory per idle connected device (server process RSS).
	pid := os.Getpid()
	if child != nil {
		// A fresh server process on the same data, so the enrollment
		// burst's garbage does not blur the idle-connection figure.
		child.Process.Kill()
		child.Wait()
		child = f.startChild()
		pid = child.Process.Pid
		time.Sleep(time.Second)
	}
	rss0 := rssKB(t, pid)
	clients := make([]*paho.Client, 0, n)
	var cmu sync.Mutex
	next.Store(0)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d := devs[i]
				if d.cert == nil {
					continue
				}
				c, _, err := mqttConnectKeepAlive(f, d.tlsCert(), d.id, 300)
				if err != nil {
					t.Errorf("connect %d: %v", i, err)
					return
				}
				cmu.Lock()
				clients = append(clients, c)
				cmu.Unlock()
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the server settle
	rss1 := rssKB(t, pid)
	t.Logf("idle connections: %d; server RSS %d KB -> %d KB: %.1f KB per idle mTLS device (goal <= 20 KB)", len(clients), rss0, rss1, float64(rss1-rss0)/float64(len(clients)))

	// 4. Telemetry: messages durably stored per second (each acknowledged
	// after its batch commits), against a pass-through broker.
	pubs := min(*loadPubs, len(clients))
	srv0, self0 := cpuTicks(t, pid), cpuTicks(t, os.Getpid())
	got := publishLoad(t, clients[:pubs], func(i int) string { return broker.TelemetryTopic(clients[i].ClientID()) }, *loadDuration)
	srv1, self1 := cpuTicks(t, pid), cpuTicks(t, os.Getpid())
	t.Logf("telemetry through the fleet server (mTLS, QoS 1, %d publishers x %d in flight, %d samples a message): %.0f messages/s stored = %.0f samples/s (goal >= 200000/s)", pubs, *loadInflight, *loadValues, got, got*float64(*loadValues))
	if child != nil && got > 0 {
		msgs := got * loadDuration.Seconds()
		t.Logf("CPU during telemetry: server %.1f s (%.1f us/message), load generator %.1f s (%.1f us/message); %d cores", ticksSec(srv1-srv0), 1e6*ticksSec(srv1-srv0)/msgs, ticksSec(self1-self0), 1e6*ticksSec(self1-self0)/msgs, runtime.NumCPU())
	}
	for _, c := range clients {
		c.Disconnect(&paho.Disconnect{})
	}
	if *loadBaseline != "" {
		base := baselineLoad(t, *loadBaseline, pubs, *loadDuration)
		if base > 0 {
			t.Logf("pass-through baseline %s (plain TCP, QoS 1, nothing stored): %.0f messages/s; fleet/baseline = %.2f", *loadBaseline, base, got/base)
		}
	}
	// 5. The store alone: batched inserts, the durable-write bound.
	t.Logf("store alone (SQLite synchronous=FULL, the default, 5000-sample transactions): %.0f samples/s", storeBound(t, ""))
	t.Logf("store alone (SQLite synchronous=NORMAL: not power-cut safe, for comparison): %.0f samples/s", storeBound(t, "NORMAL"))
}

func mqttConnectKeepAlive(f *fixture, cert tls.Certificate, clientID string, keepAlive uint16) (*paho.Client, *paho.Connack, error) {
	conn, err := tls.Dial("tcp", f.mqttAddr, &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: clientID})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: keepAlive, CleanStart: true})
	if err != nil {
		conn.Close()
	}
	return c, ack, err
}

func publishLoad(t *testing.T, clients []*paho.Client, topic func(int) string, d time.Duration) float64 {
	var count atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, c := range clients {
		tp := topic(i)
		for range *loadInflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := telemetryPayload(*loadValues)
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					pr, err := c.Publish(ctx, &paho.Publish{Topic: tp, QoS: 1, Payload: payload})
					cancel()
					if err != nil || pr.ReasonCode >= 0x80 {
						return
					}
					count.Add(1)
				}
			}()
		}
	}
	start := time.Now()
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

func baselineLoad(t *testing.T, addr string, pubs int, d time.Duration) float64 {
	var clients []*paho.Client
	for i := range pubs {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Logf("baseline broker %s unreachable (%v): baseline skipped", addr, err)
			return 0
		}
		c := paho.NewClient(paho.ClientConfig{Conn: conn})
		id := "rampart-load-" + strconv.Itoa(i)
		if _, err := c.Connect(context.Background(), &paho.Connect{ClientID: id, KeepAlive: 300, CleanStart: true}); err != nil {
			t.Logf("baseline broker %s refused (%v): baseline skipped", addr, err)
			return 0
		}
		clients = append(clients, c)
	}
	defer func() {
		for _, c := range clients {
			c.Disconnect(&paho.Disconnect{})
		}
	}()
	return publishLoad(t, clients, func(i int) string { return "rampart/load/" + strconv.Itoa(i) }, d)
}

func cryptoBound(t *testing.T, f *fixture, d *device) float64 {
	// One CA in memory, the same algorithms as the server's.
	c, err := ca.Open(t.TempDir(), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	csrDER, _ := enroll.NewCSR(d.key, rand.Reader, "")
	b, _ := enroll.Binding(nonce, d.key.Public())
	tok, _ := d.attest(context.Background(), b)
	var ops atomic.Int64
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := attest.Verify(tok, attest.VerifyOptions{Key: &d.iak.PublicKey, Nonce: b}); err != nil {
					t.Error(err)
					return
				}
				csr, err := x509.ParseCertificateRequest(csrDER)
				if err != nil || csr.CheckSignature() != nil {
					t.Error("csr")
					return
				}
				if _, err := c.IssueDevice(csr.PublicKey, d.id, d.inst, time.Hour); err != nil {
					t.Error(err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(ops.Load()) / time.Since(start).Seconds()
}

func deviceCryptoBound(t *testing.T, d *device) float64 {
	var ops atomic.Int64
	stop := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				enroll.NewCSR(d.key, rand.Reader, "")
				d.attest(context.Background(), make([]byte, 32))
				ops.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(ops.Load()) / time.Since(start).Seconds()
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

// telemetryPayload is a message carrying n samples (metrics v0..v(n-1)).
func telemetryPayload(n int) []byte {
	n = max(1, min(n, 64))
	var b strings.Builder
	b.WriteString(`{"values":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"v%d":1.5`, i)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// cpuTicks is the user+system CPU time of process pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the ")" closing the command name: state is field 3,
	// utime 14 and stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// ticksSec converts clock ticks (USER_HZ, 100 on Linux) to seconds.
func ticksSec(n int64) float64 { return float64(n) / 100 }

func rssKB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
