package netlimit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom opens a TCP connection from local address from (127.0.0.x).
func dialFrom(t *testing.T, from, to string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (read returns EOF or
// a reset) before the deadline; false if c is still open then.
// Whatever the server sent before closing is read and dropped.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// echoOne accepts connections and, for each, writes one byte: a connection
// that gets its byte was admitted.
func serve(t *testing.T, l net.Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.Write([]byte{1})
				io.Copy(io.Discard, c) // until the client closes
				c.Close()
			}()
		}
	}()
}

func admitted(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err == nil
}

func TestListenerCaps(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan Source, 16)
	l := Listen(inner, 2, 3, func(s Source) { refused <- s })
	defer l.Close()
	serve(t, l)
	addr := inner.Addr().String()
	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	if !admitted(t, a1) || !admitted(t, a2) {
		t.Fatal("connections within the per-source cap refused")
	}
	a3 := dialFrom(t, "127.0.0.1", addr)
	if !closedByServer(a3, 10*time.Second) {
		t.Fatal("a third connection from one source was kept open (cap 2)")
	}
	if s := <-refused; s.String() != "127.0.0.1" {
		t.Fatalf("refusal reported for %s", s)
	}
	b1 := dialFrom(t, "127.0.0.2", addr)
	if !admitted(t, b1) {
		t.Fatal("another source refused while the first is at its cap")
	}
	b2 := dialFrom(t, "127.0.0.2", addr)
	if !closedByServer(b2, 10*time.Second) {
		t.Fatal("a fourth connection in all was kept open (total cap 3)")
	}
	// Closing a connection frees its place.
	a1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if total, _ := l.Open(SourceOf("127.0.0.1")); total == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connection still counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a4 := dialFrom(t, "127.0.0.1", addr); !admitted(t, a4) {
		t.Fatal("a place freed by a closed connection was not reused")
	}
}
