package broker

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestCloseWhileClientsChurn closes the broker while clients connect and
// leave. mochi's own shutdown callback (Clients.GetByListener) took the
// clients' read lock twice, so a client added or removed between the two
// deadlocked Close; the listener now disconnects from one snapshot. Every
// MQTT 5 client connected before Close gets DISCONNECT 0x8B (server
// shutting down), as with mochi's callback.
func TestCloseWhileClientsChurn(t *testing.T) {
	tb := startBroker(t, nil, 0)
	const steady, churners = 8, 4
	var clients []*rawClient
	for i := range steady {
		id := fmt.Sprintf("steady-%d", i)
		c, ack, err := tb.connectWith(t, tb.device(t, id), id, 5, nil)
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("%s: connack %v, err %v", id, ack.ReasonCode, err)
		}
		clients = append(clients, c)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range churners {
		id := fmt.Sprintf("churn-%d", i)
		cert := tb.device(t, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Not connectWith: its t.Fatal cannot run off the test's
				// goroutine, and dials fail once the listener closes.
				conn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
				if err != nil {
					continue
				}
				pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
					Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id}}
				var buf bytes.Buffer
				if pk.ConnectEncode(&buf) == nil {
					conn.Write(buf.Bytes())
					conn.Read(make([]byte, 16)) // the CONNACK, or the end
				}
				conn.Close()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { tb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not return within 60 s: deadlocked")
	}
	close(stop)
	wg.Wait()
	for i, c := range clients {
		d, ok := c.closed()
		if !ok {
			t.Fatalf("steady-%d: connection still open after Close", i)
		}
		if d.FixedHeader.Type != packets.Disconnect || d.ReasonCode != packets.ErrServerShuttingDown.Code {
			t.Errorf("steady-%d: DISCONNECT %v reason %#x, want DISCONNECT %#x", i, d.FixedHeader.Type, d.ReasonCode, packets.ErrServerShuttingDown.Code)
		}
	}
}
