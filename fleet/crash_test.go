package fleet

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/hsm/hsmtest"
)

// envChild makes the test binary run a fleet server from the named config
// (TestMain), so the crash test can kill -9 a real process.
const envChild = "RAMPART_FLEET_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(envChild); path != "" {
		runChild(path)
		return
	}
	code := m.Run()
	hsmtest.Cleanup()
	os.Exit(code)
}

type childAddrs struct{ Enroll, Admin, MQTT string }

func runChild(path string) {
	// RAMPART_FLEET_TEST_CHILD_PPROF=127.0.0.1:6060 serves net/http/pprof
	// from the child, to profile the server alone during the load test.
	if addr := os.Getenv("RAMPART_FLEET_TEST_CHILD_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	srv, err := New(cfg, Options{Passphrase: []byte(testPassphrase), Rand: rand.Reader})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	json.NewEncoder(os.Stdout).Encode(childAddrs{srv.EnrollURL(), srv.AdminURL(), srv.MQTTAddr()})
	select {} // until killed
}

// startChild runs the server as a child process and points the fixture at it.
func (f *fixture) startChild() *exec.Cmd {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+f.cfgPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadBytes('\n')
	var a childAddrs
	if err != nil || json.Unmarshal(line, &a) != nil {
		f.t.Fatalf("child server did not start: %v %q", err, line)
	}
	pem, err := os.ReadFile(filepath.Join(f.dir, "data", ca.CertFile))
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	f.setEndpoints(a.Enroll, a.Admin, a.MQTT, pool)
	return cmd
}

// TestCrashDuringBurst kills the server with SIGKILL while devices enroll
// and publish, restarts it, and checks that every certificate a device
// received is on record (no device half-enrolled) and every acknowledged
// telemetry message is stored.
func TestCrashDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	f := prepareFixture(t, "sqlite")
	child := f.startChild()
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("register release: %d %s", st, body)
	}
	publishers := f.newDevices(16)
	for _, d := range publishers {
		if err := d.enroll(false); err != nil {
			t.Fatal(err)
		}
	}
	burst := f.newDevices(200)

	var (
		mu       sync.Mutex
		issued   = map[string]string{} // serial -> device id, as received by devices
		acked    = map[string][]int{}  // device id -> acknowledged values
		wg       sync.WaitGroup
		started  = make(chan struct{})
		progress sync.WaitGroup
		total    int
	)
	progress.Add(1)
	var once sync.Once
	for _, d := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := d.mqtt("")
			if err != nil {
				t.Errorf("publisher connect: %v", err)
				return
			}
			defer c.Disconnect(&paho.Disconnect{})
			for i := 0; ; i++ {
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				pr, err := c.Publish(pctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1,
					Payload: []byte(`{"values":{"seq":` + strconv.Itoa(i) + `}}`)})
				cancel()
				if err != nil || pr.ReasonCode != 0 {
					return // the server died: nothing after this was acknowledged
				}
				mu.Lock()
				acked[d.id] = append(acked[d.id], i)
				total++
				n := total
				mu.Unlock()
				if n == 200 {
					once.Do(progress.Done)
				}
			}
		}()
	}
	sem := make(chan struct{}, 8)
	for _, d := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-started
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := d.enroll(false); err == nil {
				mu.Lock()
				issued[ca.Serial(d.cert.SerialNumber)] = d.id
				mu.Unlock()
			}
		}()
	}
	progress.Wait() // telemetry is flowing
	close(started)
	// Let the enrollment burst get going, then kill -9 mid-flight.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(issued)
		mu.Unlock()
		if n >= 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	wg.Wait()
	if len(issued) == len(burst) {
		t.Fatalf("all %d enrollments completed before the kill: the test did not crash mid-burst", len(burst))
	}

	// Restart on the same data and check.
	f.startChild()
	cl := adminapi.NewClient(f.adminURL, adminToken, f.pool)
	ctx := context.Background()
	for serial, id := range issued {
		d, err := cl.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range d.Certificates {
			found = found || c.Serial == serial
		}
		if !found || d.State != adminapi.Active {
			t.Fatalf("device %s received certificate %s but the server has state %s and %d certificates", id, serial, d.State, len(d.Certificates))
		}
	}
	// No certificate on record for a device that is not active.
	devs, err := cl.Devices(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		dd, err := cl.Device(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(dd.Certificates) > 0 && dd.State != adminapi.Active {
			t.Fatalf("device %s has %d certificates but is %s", d.ID, len(dd.Certificates), dd.State)
		}
	}
	total = 0
	for id, vals := range acked {
		pts, err := cl.Telemetry(ctx, adminapi.TelemetryQuery{Device: id, Metric: "seq"})
		if err != nil {
			t.Fatal(err)
		}
		have := map[int]bool{}
		for _, p := range pts {
			have[int(p.Value)] = true
		}
		for _, v := range vals {
			if !have[v] {
				t.Fatalf("device %s: acknowledged message %d lost in the crash", id, v)
			}
		}
		total += len(vals)
	}
	t.Logf("killed mid-burst (%d of %d enrollments done): %d enrollments and %d telemetry messages acknowledged, all on record after restart", len(issued), len(burst), len(issued), total)
	// Devices whose enrollment was cut off can enroll now.
	for _, d := range burst {
		if d.cert == nil {
			if err := d.enroll(false); err != nil {
				t.Fatalf("enrollment after restart: %v", err)
			}
			break
		}
	}
}
