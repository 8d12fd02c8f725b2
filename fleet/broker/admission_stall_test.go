package broker

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile peers: two source addresses send a ClientHello on every
// connection they can open and then stall, so each holds every handshake
// slot it can get (half of them, its cap) and queues for more; an honest
// device from a third address must still connect well inside the time a
// stalled handshake would hold its slot on its own (the handshake
// timeout). On the old code a stalled handshake kept its slot until the
// timeout, so the two sources held every slot, and the honest device,
// waiting half the timeout for one, was closed. Now a slot held past its
// budget (HandshakeSlotBudget) while another source waits is reclaimed:
// the stalled connection is closed and the slot goes to the waiting
// sources in turn.
func TestStalledHandshakesDoNotKeepOtherSourcesOut(t *testing.T) {
	const slots = 4 // 2 per source
	tb := startBrokerWith(t, &fakeSink{arrived: make(chan struct{}, 1)}, func(c *Config) {
		c.MaxHandshakes = slots
		c.HandshakeTimeout = 2 * time.Minute // a stalled handshake ends on its own only after this
		c.HandshakeSlotBudget = 200 * time.Millisecond
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		src := netip.MustParseAddr(a)
		for range 2 * slots { // more than the source's cap: some queue
			wg.Add(1)
			go func() {
				defer wg.Done()
				stallAgain(tb.addr, src, stop)
			}()
		}
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	waitFor(t, "every handshake slot held by the stalling sources", func() bool { return tb.lis.slots.inUse() == slots })

	// The honest device gives up long before a stalled handshake would
	// end by itself (2 min), and before its own slot wait would (1 min).
	cert := tb.device(t, "honest")
	done := make(chan error, 1)
	go func() {
		ack, err := connectFrom(tb, cert, "honest", 5, netip.MustParseAddr("127.0.0.4"))
		if err == nil && ack.ReasonCode != 0 {
			err = fmt.Errorf("CONNACK %#x", ack.ReasonCode)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("honest device from a third source: %v, want connected", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("honest device from a third source not connected in 30 s while two sources stall their handshakes (slots in use %d of %d)", tb.lis.slots.inUse(), slots)
	}
}

// stallAgain opens connections from src that send a ClientHello and then
// never answer the server, one after the other until stop: each waits
// until the server closes it, then the next is opened.
func stallAgain(addr string, src netip.Addr, stop <-chan struct{}) {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		sc := &stallConn{Conn: c}
		go func() { <-stop; c.Close() }()
		// The ClientHello is written; its Read then swallows the server's
		// flight until the server closes the connection.
		tls.Client(sc, &tls.Config{InsecureSkipVerify: true}).Handshake()
		c.Close()
	}
}

// stallConn is a client connection that never lets the TLS client see
// what the server sent: Read discards until the connection ends.
type stallConn struct{ net.Conn }

func (s *stallConn) Read([]byte) (int, error) {
	_, err := io.Copy(io.Discard, s.Conn)
	if err == nil {
		err = io.EOF
	}
	return 0, err
}

// A slot is reclaimed only for another source: the stalled handshakes of
// one address, with only that address waiting, keep their slots past the
// budget (the devices behind a NAT, or the simulator's on loopback, slow
// in a storm, are not cut off in favour of each other); once another
// source waits, the over-budget handshake of a source that is not waiting
// is closed, and only as many as wait. reclaim is called with a clock an
// hour on, so nothing here depends on timing.
func TestReclaimOnlyForAnotherSource(t *testing.T) {
	var reclaimed sync.Map
	tb := startBrokerWith(t, &fakeSink{arrived: make(chan struct{}, 1)}, func(c *Config) {
		c.MaxHandshakes = 2 // 1 per source
		c.HandshakeTimeout = 2 * time.Hour
		c.HandshakeSlotBudget = time.Hour // the loop never reclaims on its own
		c.OnDeny = func(action string) {
			v, _ := reclaimed.LoadOrStore(action, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	stall := func(src netip.Addr, n int) {
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); stallAgain(tb.addr, src, stop) }()
		}
	}
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	stall(a, 3) // one holds a's slot, two wait
	waitFor(t, "a's slot held and two of a's waiting", func() bool { return tb.lis.slots.inUse() == 1 && queued(tb.lis.slots, a) == 2 })
	tb.lis.reclaim(time.Now().Add(time.Hour + time.Minute))
	if got := holders(tb.lis); got[a] != 1 {
		t.Fatalf("a's handshake reclaimed with only a waiting: holders %v", got)
	}
	stall(b, 1)
	waitFor(t, "b holding the other slot", func() bool { return holders(tb.lis)[b] == 1 })
	tb.lis.reclaim(time.Now().Add(time.Hour + time.Minute))
	got := holders(tb.lis)
	if got[a] != 1 || got[b] != 0 {
		t.Fatalf("with a waiting, want b's over-budget handshake reclaimed and a's kept: holders %v", got)
	}
	if v, ok := reclaimed.Load("mqtt.handshake.reclaimed"); !ok || v.(*atomic.Int64).Load() != 1 {
		t.Fatal("mqtt.handshake.reclaimed not counted once")
	}
}

// holders counts the handshakes holding a slot by source.
func holders(l *tlsListener) map[netip.Addr]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[netip.Addr]int{}
	for _, h := range l.slotted {
		m[h.src]++
	}
	return m
}
