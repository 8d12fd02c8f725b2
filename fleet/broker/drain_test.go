package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestDrain: Drain stops accepting connections, writes every PUBACK owed
// for telemetry read before it began (after the commit, as always), drops
// what is read after it unacknowledged, and then tells the MQTT 5 session
// to use another server (DISCONNECT 0x9C with a Server Reference) and
// closes the MQTT 3.1.1 one. A connection accepted before the drain whose
// CONNECT arrives during it is answered CONNACK 0x9C.
func TestDrain(t *testing.T) {
	sink := newFakeSink()
	tb := startBroker(t, sink, 8)
	v5 := tb.dial(t, tb.device(t, "dev-5"), "dev-5", 5)
	v3 := tb.dial(t, tb.device(t, "dev-3"), "dev-3", 4)
	late := tb.device(t, "dev-late")
	// A connection through its TLS handshake, CONNECT not sent yet.
	lateConn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{late}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer lateConn.Close()
	waitFor(t, "the late connection handed to mochi", func() bool {
		tb.lis.mu.Lock()
		defer tb.lis.mu.Unlock()
		return len(tb.lis.live) == 3
	})
	for i := uint16(1); i <= 3; i++ {
		v5.send(t, v5.publish(i, payloadN(int(i))))
	}
	v3.send(t, v3.publish(1, payloadN(100)))
	var held []fakeSub
	for len(held) < 4 {
		held = append(held, sink.take(t)...)
	}

	drained := make(chan error, 1)
	go func() { drained <- tb.Drain(context.Background(), []string{tb.Addr(), "node-2.example:8883"}) }()
	waitFor(t, "the drain to begin", tb.Draining)

	// No new connections.
	if c, err := net.Dial("tcp", tb.addr); err == nil {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a new connection was served during the drain")
		}
		c.Close()
	}
	// The late CONNECT: CONNACK 0x9C naming the other node.
	lc := &rawClient{conn: lateConn, r: bufio.NewReader(lateConn), v: 5, id: "dev-late"}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: "dev-late"}}
	var buf bytes.Buffer
	pk.ConnectEncode(&buf)
	lc.send(t, buf.Bytes())
	if ack := lc.read(t); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != packets.ErrUseAnotherServer.Code || ack.Properties.ServerReference != "node-2.example:8883" {
		t.Fatalf("CONNECT during the drain: %+v", ack)
	}

	// Read after the drain began: never acknowledged.
	v5.send(t, v5.publish(4, payloadN(4)))
	// The commits complete: the acknowledgements go out, then the
	// sessions end.
	for _, h := range held {
		h.done(nil)
	}
	for i := uint16(1); i <= 3; i++ {
		if pk := v5.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != i || pk.ReasonCode != 0 {
			t.Fatalf("MQTT 5: want PUBACK %d, got %+v", i, pk)
		}
	}
	d := v5.read(t)
	if d.FixedHeader.Type != packets.Disconnect || d.ReasonCode != 0x9C || d.Properties.ServerReference != "node-2.example:8883" {
		t.Fatalf("MQTT 5: want DISCONNECT 0x9C referring to node-2.example:8883 (not this node), got %+v", d)
	}
	if pk := v3.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != 1 {
		t.Fatalf("MQTT 3.1.1: want PUBACK 1, got %+v", pk)
	}
	if _, ok := v3.closed(); !ok {
		t.Fatal("MQTT 3.1.1 session not closed")
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if n := tb.Connected(); n != 0 {
		t.Fatalf("%d sessions after the drain", n)
	}
}

// TestDrainRacingSessionStart: a drain that begins after a device's
// CONNACK but before its session is registered (mochi answers CONNECT
// before OnSessionEstablished) still tells the device to use another
// server; before, the drain saw no session and the device stayed until
// the server closed (DISCONNECT 0x8B).
func TestDrainRacingSessionStart(t *testing.T) {
	var tb *testBroker
	tb = startBrokerWith(t, newFakeSink(), func(c *Config) {
		c.afterAuthenticate = func(string) {
			if err := tb.Drain(context.Background(), []string{"node-2.example:8883"}); err != nil {
				t.Errorf("drain: %v", err)
			}
		}
	})
	c, ack, err := tb.connectWith(t, tb.device(t, "dev-race"), "dev-race", 5, nil)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connack %#x, err %v", ack.ReasonCode, err)
	}
	d, ok := c.closed()
	if !ok || d.FixedHeader.Type != packets.Disconnect || d.ReasonCode != packets.ErrUseAnotherServer.Code || d.Properties.ServerReference != "node-2.example:8883" {
		t.Fatalf("after a drain racing its session: closed %v, %v reason %#x reference %q", ok, d.FixedHeader.Type, d.ReasonCode, d.Properties.ServerReference)
	}
}

// TestDrainWaitsForSessionPastConnack: a drain that begins after a
// device's CONNACK but before its session is registered does not end
// until that session has been told to use another server. Before, the
// drain saw no session and returned at once, and the server's shutdown
// that follows a drain closed the device with DISCONNECT 0x8B
// (TestClusterDrainRefersToPeer failed so under load).
func TestDrainWaitsForSessionPastConnack(t *testing.T) {
	var tb *testBroker
	drained := make(chan error, 1)
	tb = startBrokerWith(t, newFakeSink(), func(c *Config) {
		c.beforeSession = func(string) {
			go func() { drained <- tb.Drain(context.Background(), []string{"node-2.example:8883"}) }()
			waitFor(t, "the drain to begin", tb.Draining)
			select {
			case err := <-drained:
				drained <- err
				t.Error("the drain ended while a session past CONNACK was not yet registered")
			case <-time.After(300 * time.Millisecond):
			}
		}
	})
	c, ack, err := tb.connectWith(t, tb.device(t, "dev-gap"), "dev-gap", 5, nil)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connack %#x, err %v", ack.ReasonCode, err)
	}
	d, ok := c.closed()
	if !ok || d.FixedHeader.Type != packets.Disconnect || d.ReasonCode != packets.ErrUseAnotherServer.Code || d.Properties.ServerReference != "node-2.example:8883" {
		t.Fatalf("closed %v, %v reason %#x reference %q; want DISCONNECT 0x9C naming node-2.example:8883", ok, d.FixedHeader.Type, d.ReasonCode, d.Properties.ServerReference)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // against hangs
		t.Fatal("the drain did not end after the session moved away")
	}
}
