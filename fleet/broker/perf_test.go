package broker

// Measurements of the broker with the real telemetry writer, behind
// -broker.perf (they take a minute). The devices' MQTT clients run in a
// child process (this test binary re-executed), so that the figures
// (CPU, heap, stacks, RSS) are the server's alone:
//
//	go test ./fleet/broker -run TestPerf -broker.perf -v
//	go test ./fleet/broker -run TestPerf -broker.perf -broker.conns=2000 -broker.publishers=200 -broker.inflight=1,8,64 -v

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
	"rampart/internal/proc"
)

var (
	perfFlag     = flag.Bool("broker.perf", false, "run the broker measurements (idle memory per connection, pipelined telemetry)")
	perfConns    = flag.Int("broker.conns", 2000, "perf: idle connections")
	perfPubs     = flag.Int("broker.publishers", 200, "perf: publishing connections")
	perfInflight = flag.String("broker.inflight", "1,8,64", "perf: QoS 1 messages in flight per publisher, one run each")
	perfDuration = flag.Duration("broker.duration", 3*time.Second, "perf: telemetry time per run")
	perfBuffer   = flag.Int("broker.buffer", 0, "perf: Config.BufferSize (0: the broker's default)")
	perfHeap     = flag.String("broker.heapprofile", "", "perf: write the heap profile with the connections idle to this file")
	perfCPU      = flag.String("broker.cpuprofile", "", "perf: write a CPU profile of the telemetry runs to this file")
)

// envPerfClients makes the test binary run the devices' clients (TestMain).
const envPerfClients = "RAMPART_BROKER_TEST_CLIENTS"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashServer); dir != "" {
		if err := runCrashServer(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash server:", err)
			os.Exit(3)
		}
		return
	}
	if path := os.Getenv(envPerfClients); path != "" {
		if err := runPerfClients(path); err != nil {
			fmt.Fprintln(os.Stderr, "perf clients:", err)
			os.Exit(3)
		}
		return
	}
	os.Exit(m.Run())
}

type perfBundle struct {
	Addr    string
	CA      []byte
	Devices []perfDevice
}

type perfDevice struct {
	ID        string
	Cert, Key []byte
}

func TestPerf(t *testing.T) {
	if !*perfFlag {
		t.Skip("broker measurements: run with -broker.perf")
	}
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "perf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := ca.Open(filepath.Join(dir, "ca"), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	skey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	scert, err := c.IssueServer(&skey.PublicKey, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w := telemetry.NewWriter(telemetry.WriterConfig{Store: db})
	defer w.Close()
	b, err := New(Config{Address: "127.0.0.1:0", CA: c, Store: db, Sink: w, BufferSize: *perfBuffer,
		Certificate: tls.Certificate{Certificate: [][]byte{scert.Raw}, PrivateKey: skey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Devices on record, enrolled concurrently (the store group-commits).
	bundle := perfBundle{Addr: b.Addr(), CA: c.Certificate().Raw, Devices: make([]perfDevice, *perfConns)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bundle.Devices) {
					return
				}
				id := fmt.Sprintf("%032x", i+1)
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				cert, err := c.IssueDevice(&key.PublicKey, id, []byte(id), 24*time.Hour)
				if err == nil {
					_, err = db.PutEndorsement(ctx, &store.Device{ID: id, InstanceID: []byte(id)})
				}
				if err == nil {
					err = db.RecordEnrollment(ctx, &store.Certificate{Serial: ca.Serial(cert.SerialNumber), DeviceID: id, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw},
						[]store.State{store.Registered}, &store.AuditEntry{Actor: "perf", Action: "enroll", Subject: id, Decision: store.Allow})
				}
				if err != nil {
					t.Error(err)
					return
				}
				kd, _ := x509.MarshalECPrivateKey(key)
				bundle.Devices[i] = perfDevice{ID: id, Cert: cert.Raw, Key: kd}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	bpath := filepath.Join(dir, "bundle.json")
	bj, _ := json.Marshal(bundle)
	if err := os.WriteFile(bpath, bj, 0o600); err != nil {
		t.Fatal(err)
	}

	// Idle memory: the server process before and after the connections.
	runtime.GC()
	runtime.GC()
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	rss0, g0 := rssKB(t), runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPerfClients+"="+bpath)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("clients: %q %v", line, err)
	}
	time.Sleep(2 * time.Second) // let the server settle, as the fleet load test does
	runtime.ReadMemStats(&m1)
	rss1, g1 := rssKB(t), runtime.NumGoroutine()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m2)
	if *perfHeap != "" {
		f, err := os.Create(*perfHeap)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	n := float64(*perfConns)
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / n / 1024 }
	t.Logf("%d idle mTLS connections, buffer %d, GOGC=%s GOMEMLIMIT=%s: RSS %.1f KB/conn; heap in use %.1f KB/conn (live after GC %.1f KB); goroutine stacks %.1f KB/conn (after GC %.1f KB); goroutines %.2f/conn; Sys %.1f KB/conn",
		*perfConns, *perfBuffer, os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), float64(rss1-rss0)/n, per(m1.HeapInuse, m0.HeapInuse), per(m2.HeapAlloc, m0.HeapAlloc), per(m1.StackInuse, m0.StackInuse), per(m2.StackInuse, m0.StackInuse), float64(g1-g0)/n, per(m1.Sys, m0.Sys))

	// Pipelined telemetry: messages acknowledged (so committed) per second,
	// and the server's CPU per message.
	if *perfCPU != "" {
		f, err := os.Create(*perfCPU)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, f := range strings.Split(*perfInflight, ",") {
		inflight, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || inflight < 1 {
			t.Fatalf("-broker.inflight: %q", f)
		}
		stored0, _ := db.CountPoints(ctx)
		cpu0 := proc.CPU()
		fmt.Fprintf(stdin, "publish %d %d %d\n", *perfPubs, inflight, perfDuration.Milliseconds())
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("clients: %v", err)
		}
		var acked int64
		var secs float64
		if _, err := fmt.Sscanf(line, "done %d %g", &acked, &secs); err != nil {
			t.Fatalf("clients: %q", line)
		}
		cpu := proc.CPU() - cpu0
		stored1, _ := db.CountPoints(ctx)
		if stored1-stored0 < acked {
			t.Fatalf("%d messages acknowledged but %d stored", acked, stored1-stored0)
		}
		t.Logf("telemetry, %d publishers x %d in flight (QoS 1, 1 sample, MQTT 3.1.1): %.0f messages/s acknowledged after commit; server CPU %.1f us/message", *perfPubs, inflight, float64(acked)/secs, 1e6*cpu.Seconds()/float64(stored1-stored0))
	}
}

func rssKB(t *testing.T) int64 {
	kb, err := proc.RSSKB(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// runPerfClients connects every device of the bundle (MQTT 3.1.1), says
// "ready", then runs each "publish <publishers> <inflight> <ms>" command
// read from stdin, answering "done <acknowledged> <seconds>".
func runPerfClients(path string) error {
	bj, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var bundle perfBundle
	if err := json.Unmarshal(bj, &bundle); err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(bundle.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	conns := make([]*tls.Conn, len(bundle.Devices))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				d := bundle.Devices[i]
				key, _ := x509.ParseECPrivateKey(d.Key)
				conn, err := tls.Dial("tcp", bundle.Addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1",
					Certificates: []tls.Certificate{{Certificate: [][]byte{d.Cert}, PrivateKey: key}}})
				if err == nil {
					err = perfConnect(conn, d.ID)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("device %d: %w", i, err))
					return
				}
				conns[i] = conn
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var pubs, inflight, ms int
		if _, err := fmt.Sscanf(in.Text(), "publish %d %d %d", &pubs, &inflight, &ms); err != nil {
			return fmt.Errorf("command %q: %w", in.Text(), err)
		}
		n, secs, err := perfPublish(conns[:min(pubs, len(conns))], bundle.Devices, inflight, time.Duration(ms)*time.Millisecond)
		if err != nil {
			return err
		}
		fmt.Printf("done %d %g\n", n, secs)
	}
	return nil
}

func perfConnect(conn *tls.Conn, id string) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 300, ClientIdentifier: id}}
	var buf bytes.Buffer
	pk.ConnectEncode(&buf)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return err
	}
	if ack[0] != packets.Connack<<4 || ack[3] != 0 {
		return fmt.Errorf("CONNACK %x", ack)
	}
	return nil
}

// perfPublish keeps inflight QoS 1 messages outstanding on each
// connection for d, then waits for the stragglers; it returns the
// acknowledgements received within d.
func perfPublish(conns []*tls.Conn, devs []perfDevice, inflight int, d time.Duration) (int64, float64, error) {
	var acked atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := deviceproto.TelemetryTopic(devs[i].ID)
			sem := make(chan struct{}, inflight)
			finished := make(chan struct{})
			readerDone := make(chan struct{})
			go func() { // writer
				defer close(finished)
				var buf bytes.Buffer
				for n := 0; time.Now().Before(stop); n++ {
					sem <- struct{}{}
					buf.Reset()
					pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
						TopicName: topic, PacketID: uint16(n%65535 + 1), Payload: []byte(`{"values":{"v0":1.5}}`)}
					pk.PublishEncode(&buf)
					if _, err := conn.Write(buf.Bytes()); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				for range inflight { // every message acknowledged
					sem <- struct{}{}
				}
			}()
			go func() { // unblock the reader once everything is acknowledged
				<-finished
				for {
					conn.SetReadDeadline(time.Now())
					select {
					case <-readerDone:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			defer close(readerDone)
			ack := make([]byte, 4)
			for {
				conn.SetReadDeadline(time.Now().Add(time.Minute)) // against hangs
				if _, err := io.ReadFull(conn, ack); err != nil {
					select {
					case <-finished:
					default:
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				if ack[0] != packets.Puback<<4 {
					firstErr.CompareAndSwap(nil, fmt.Errorf("got %x, want a PUBACK", ack))
					return
				}
				if time.Now().Before(stop) {
					acked.Add(1)
				}
				<-sem
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return acked.Load(), d.Seconds(), nil
}
