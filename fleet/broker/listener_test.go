package broker

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestSlowClientNoConnect: a client that completes TLS but never sends
// CONNECT, or sends half of one, is closed after the handshake timeout,
// and its goroutines end.
func TestSlowClientNoConnect(t *testing.T) {
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	id := fmt.Sprintf("%032x", 0x90)
	cert := tb.device(t, id)
	before := runtime.NumGoroutine()
	for _, partial := range [][]byte{nil, {packets.Connect << 4, 20, 0, 4, 'M'}} {
		conn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(partial)
		conn.SetReadDeadline(time.Now().Add(time.Minute)) // against hangs
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("silent client (sent %x): read %v, want EOF", partial, err)
		}
		conn.Close()
	}
	waitFor(t, "the connections' goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestSlowClientStopsReading: a client that keeps publishing to a topic it
// is subscribed to but never reads fills its socket; the broker's write
// then times out and the connection is closed, instead of holding the
// writer and up to 64 queued messages for as long as the client keeps
// sending (each packet it sends pushes the keepalive deadline back). Its
// session and goroutines end.
func TestSlowClientStopsReading(t *testing.T) {
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.WriteTimeout = 200 * time.Millisecond; c.MessageRate = -1 })
	id := fmt.Sprintf("%032x", 0x91)
	cl := tb.dial(t, tb.device(t, id), id, 4)
	waitFor(t, "the session", func() bool { return tb.Connected() == 1 })
	before := runtime.NumGoroutine()
	if ack, err := cl.subscribe(t, 1, "devices/"+id+"/echo"); err != nil || ack.FixedHeader.Type != packets.Suback {
		t.Fatalf("subscribe: %+v %v", ack, err)
	}
	msg := cl.pub("devices/"+id+"/echo", 0, false, 0, bytes.Repeat([]byte("e"), 32<<10), packets.Properties{})
	// 2,000 messages of 32 KiB (64 MB) are far more than loopback socket
	// buffers hold; before the write timeout the broker took them all.
	sent := 0
	for ; sent < 2000; sent++ {
		cl.conn.SetWriteDeadline(time.Now().Add(time.Minute)) // against hangs
		if _, err := cl.conn.Write(msg); err != nil {
			break
		}
		if tb.Connected() == 0 {
			break
		}
	}
	waitFor(t, "the session to end", func() bool { return tb.Connected() == 0 })
	if sent == 2000 {
		t.Logf("all %d messages written before the close was seen", sent)
	}
	waitFor(t, "its goroutines to end", func() bool { return runtime.NumGoroutine() < before })
}

// TestHandshakesPerSource: one address may have
// Config.MaxHandshakesPerSource handshakes in progress; a further
// connection is closed at once, the others are not, and a slot frees when
// a handshake ends.
func TestHandshakesPerSource(t *testing.T) {
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) { c.MaxHandshakesPerSource = 3; c.HandshakeTimeout = time.Hour })
	var open []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	waitFor(t, "three handshakes in progress", func() bool {
		tb.lis.mu.Lock()
		defer tb.lis.mu.Unlock()
		return len(tb.lis.shakes) == 3
	})
	extra, err := net.Dial("tcp", tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(time.Minute)) // against hangs
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("fourth connection: read %v, want EOF", err)
	}
	open[0].Close()
	waitFor(t, "a slot to free", func() bool {
		tb.lis.mu.Lock()
		defer tb.lis.mu.Unlock()
		return len(tb.lis.shakes) == 2
	})
	// A real client gets through now.
	id := fmt.Sprintf("%032x", 0x92)
	tb.dial(t, tb.device(t, id), id, 5)
}

// TestListenerTLSPolicy: the MQTT listener refuses a TLS 1.2 client that
// offers only CBC suites, and accepts AEAD suites and TLS 1.3.
func TestListenerTLSPolicy(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x93)
	cert := tb.device(t, id)
	for _, c := range []struct {
		name   string
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"CBC-SHA1", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, false},
		{"AES-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, true},
		{"TLS 1.3", tls.VersionTLS13, nil, true},
	} {
		conn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MaxVersion: c.max, CipherSuites: c.suites})
		if err == nil {
			// TLS 1.3 client certificates are checked after the
			// client's side of the handshake: read to see the verdict.
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err = conn.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				err = nil
			}
			conn.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want success %v", c.name, err, c.ok)
		}
	}
}
