package agent

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// TestSubscribeEndsWhenSessionLost: a server that answers CONNECT, then
// ends the session with a DISCONNECT instead of a SUBACK and leaves the
// connection open (a node shutting down, or taking the session over),
// ends the subscription's wait when the session is lost. paho alone waits
// for the SUBACK until its packet timeout (10 s), past the device's
// reconnect backoff; it then answers a deadline, not the session's end.
func TestSubscribeEndsWhenSessionLost(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		if _, err := packets.ReadPacket(server); err != nil { // CONNECT
			return
		}
		if _, err := packets.NewControlPacket(packets.CONNACK).WriteTo(server); err != nil {
			return
		}
		if _, err := packets.ReadPacket(server); err != nil { // SUBSCRIBE
			return
		}
		packets.NewControlPacket(packets.DISCONNECT).WriteTo(server)
		for { // the connection stays open: nothing more is answered
			if _, err := packets.ReadPacket(server); err != nil {
				return
			}
		}
	}()
	lost := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(lost) }) }
	c := paho.NewClient(paho.ClientConfig{
		Conn:               packets.NewThreadSafeConn(client),
		OnClientError:      func(error) { signal() },
		OnServerDisconnect: func(*paho.Disconnect) { signal() },
		PacketTimeout:      time.Minute,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "dev", KeepAlive: 60, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	_, err := subscribeUntilLost(ctx, c, lost, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/dev/jobs", QoS: 1}}})
	// paho may also see the connection end after the DISCONNECT first, and
	// answer that instead; only the packet timeout's deadline is wrong.
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("subscription ended with %v, want the end of the lost session", err)
	}
}

// A CONNACK "server busy" (0x89, as a node admitting a reconnection storm
// answers) or "server unavailable" (0x88) is transient: Connect's error
// says so, and Run retries it after the backoff instead of giving up.
func TestConnackBusyIsTransient(t *testing.T) {
	for _, code := range []byte{0x88, 0x89} {
		err := connackError("node:8883", code)
		if !errors.Is(err, ErrServerBusy) || IsFatal(err) {
			t.Errorf("CONNACK %#x: %v: want ErrServerBusy, not fatal", code, err)
		}
	}
	err := connackError("node:8883", 0x87)
	if errors.Is(err, ErrServerBusy) {
		t.Errorf("CONNACK 0x87 (not authorized) taken for busy: %v", err)
	}
}

// TestConnectionHeapBounded: an agent's MQTT session holds a bounded
// heap. paho sizes its queue of received messages by the CONNECT's
// Receive Maximum, 65,535 when the property is absent: 512 KiB of
// channel buffer per connection, which made a simulated device process
// hold a third of its heap in empty channels. The broker must see the
// bound too (it may not send more than that in flight).
func TestConnectionHeapBounded(t *testing.T) {
	const clients = 20
	seen := make(chan *packets.Connect, clients)
	var conns []*paho.Client
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < clients; i++ {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		go func() {
			cp, err := packets.ReadPacket(server)
			if err != nil {
				return
			}
			seen <- cp.Content.(*packets.Connect)
			if _, err := packets.NewControlPacket(packets.CONNACK).WriteTo(server); err != nil {
				return
			}
			for {
				if _, err := packets.ReadPacket(server); err != nil {
					return
				}
			}
		}()
		c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(client)})
		if _, err := c.Connect(context.Background(), connectPacket("dev")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / clients
	t.Logf("heap per connection: %d bytes", per)
	if per > 64<<10 {
		t.Errorf("each MQTT session holds %d bytes of heap, want at most 64 KiB", per)
	}
	cp := <-seen
	if cp.Properties == nil || cp.Properties.ReceiveMaximum == nil || *cp.Properties.ReceiveMaximum != receiveMaximum {
		t.Errorf("CONNECT's Receive Maximum: %+v, want %d", cp.Properties, receiveMaximum)
	}
	runtime.KeepAlive(conns)
}
