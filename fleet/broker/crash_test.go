package broker

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
)

// envCrashServer makes the test binary run a broker with the real
// telemetry writer on the store in the named directory (TestMain), so
// that TestPipelinedCrash can kill -9 it.
const envCrashServer = "RAMPART_BROKER_TEST_CRASH_SERVER"

func runCrashServer(dir string) error {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "b.db"), store.Options{})
	if err != nil {
		return err
	}
	c, err := ca.Open(filepath.Join(dir, "ca"), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		return err
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueServer(&key.PublicKey, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		return err
	}
	w := telemetry.NewWriter(telemetry.WriterConfig{Store: db})
	b, err := New(Config{Address: "127.0.0.1:0", CA: c, Store: db, Sink: w, Window: 32,
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	fmt.Println(b.Addr())
	select {} // until killed
}

// TestPipelinedCrash: a device keeps 32 QoS 1 messages in flight while
// the broker process is killed with SIGKILL; every message acknowledged
// before the kill is in the store afterwards.
func TestPipelinedCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	tb := startBroker(t, newFakeSink(), 8) // only to make the CA, store and device
	id := fmt.Sprintf("%032x", 11)
	cert := tb.device(t, id)
	tb.db.Close() // the child opens it; this broker stays idle
	dir := filepath.Dir(tb.dbPath)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashServer+"="+dir)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("crash server: %v", err)
	}
	tb.addr = strings.TrimSpace(addr)
	c := tb.dial(t, cert, id, 5)

	const window = 32
	sem := make(chan struct{}, window)
	go func() {
		for i := 0; ; i++ {
			sem <- struct{}{}
			if _, err := c.conn.Write(c.publish(uint16(i%65535+1), payloadN(i))); err != nil {
				return
			}
		}
	}()
	acked := 0
	for {
		pk, err := c.next()
		if err != nil {
			break // killed
		}
		if pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(acked%65535+1) || pk.ReasonCode != 0 {
			t.Fatalf("acknowledgement %d: %+v", acked, pk)
		}
		acked++
		<-sem
		if acked == 500 {
			cmd.Process.Kill() // SIGKILL with 32 messages in flight
		}
	}
	cmd.Wait()
	if acked < 500 {
		t.Fatalf("only %d messages acknowledged before the connection ended", acked)
	}

	db, err := store.Open(context.Background(), filepath.Join(dir, "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pts, err := db.Points(context.Background(), store.PointQuery{DeviceID: id, Metric: "n"})
	if err != nil {
		t.Fatal(err)
	}
	have := map[int]bool{}
	for _, p := range pts {
		have[int(p.Value)] = true
	}
	for i := range acked {
		if !have[i] {
			t.Fatalf("message %d was acknowledged but is not stored after kill -9 (%d acknowledged, %d stored)", i, acked, len(pts))
		}
	}
	t.Logf("%d messages acknowledged before kill -9 (32 in flight), all stored; %d stored in all", acked, len(pts))
}
