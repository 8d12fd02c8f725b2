package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/store/storetest"
	"rampart/fleet/telemetry"
)

// A reconnection storm against a real broker on PostgreSQL, with many
// more connections than authentication slots, from two source addresses.
// The authentications holding the slots are held open (inAuthentication)
// until every other connection has been refused at least once, so the
// refusals are certain, not a matter of timing. It checks that refused
// clients are told to come back (MQTT 5 CONNACK 0x89, 3.1.1 0x03) with no
// store read, that the store meanwhile serves others (the write /readyz
// makes), that both sources hold slots (neither starves the other), and
// that every client connects once the slots move again, with no store
// refusal (no read timed out). The old code had no bound: it never
// answered "server busy", and each connection's store reads queued on
// the pool (the 10,000-device bench's timeouts).
func TestConnectionStormAdmission(t *testing.T) {
	pg := storetest.Open(t, "postgres", nil)
	w := telemetry.NewWriter(telemetry.WriterConfig{Store: pg})
	t.Cleanup(w.Close)
	gate := make(chan struct{})
	var holding atomic.Int32
	const slots = 4 // 2 per source
	tb := startBrokerWith(t, w, func(c *Config) {
		c.Store = pg
		c.MaxAuthentications = slots
		c.AuthWait = 20 * time.Millisecond
		c.inAuthentication = func(string) {
			holding.Add(1)
			<-gate
		}
	})
	tb.db = pg
	const n = 60
	certs := make([]tls.Certificate, n)
	for i := range certs {
		certs[i] = tb.device(t, fmt.Sprintf("storm-%02d", i))
	}
	var refused [2]atomic.Int32 // by version: 3.1.1, 5
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for i := range n {
		v := byte(4 + i%2) // 3.1.1 and 5
		src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + (i/2)%2)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stormClient(tb, certs[i], fmt.Sprintf("storm-%02d", i), v, src, &refused[v-4]); err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
			}
		}()
	}
	// Every slot held, and both versions refused while they are.
	waitFor(t, "slots held and refusals of both versions", func() bool {
		return holding.Load() == slots && refused[0].Load() > 0 && refused[1].Load() > 0
	})
	if got := tb.auth.inUse(); got != slots {
		t.Errorf("%d authentication slots in use during the storm, want %d", got, slots)
	}
	// What /readyz does, while the storm is on: a committed write.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := pg.CheckWritable(ctx); err != nil {
		t.Errorf("store write during the storm: %v", err)
	}
	cancel()
	close(gate)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if es := tb.audits(t, "mqtt.connect", ""); len(es) > 0 {
		t.Errorf("%d connections refused by the store check (want none; first: %s)", len(es), es[0].Reason)
	}
	total := int64(refused[0].Load() + refused[1].Load())
	if tb.Busy() < total {
		t.Errorf("Busy() = %d, fewer than the %d refusals the clients saw", tb.Busy(), total)
	}
	t.Logf("%d clients, %d authentication slots: %d refusals (3.1.1 %d, 5 %d), all connected after", n, slots, total, refused[0].Load(), refused[1].Load())
}

// stormClient connects from src until it is admitted, retrying after a
// jittered pause each time it is told the server is busy. Anything else
// is an error.
func stormClient(tb *testBroker, cert tls.Certificate, id string, v byte, src netip.Addr, refused *atomic.Int32) error {
	busy := byte(0x89)
	if v < 5 {
		busy = 0x03
	}
	for attempt := 0; attempt < 1000; attempt++ {
		ack, err := connectFrom(tb, cert, id, v, src)
		if err != nil {
			return fmt.Errorf("%s: %v", id, err)
		}
		switch ack.ReasonCode {
		case 0:
			return nil
		case busy:
			refused.Add(1)
			time.Sleep(time.Duration(mrand.Int64N(int64(20 * time.Millisecond))))
		default:
			return fmt.Errorf("%s (version %d): CONNACK %#x, want 0 or %#x", id, v, ack.ReasonCode, busy)
		}
	}
	return fmt.Errorf("%s: never admitted", id)
}

// connectFrom dials the broker from src, sends CONNECT at version v and
// returns the CONNACK; the connection is closed after.
func connectFrom(tb *testBroker, cert tls.Certificate, id string, v byte, src netip.Addr) (packets.Packet, error) {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		return packets.Packet{}, err
	}
	defer conn.Close()
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), v: v, id: id}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return pk, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return pk, err
	}
	ack, err := c.next()
	if err == nil && ack.FixedHeader.Type != packets.Connack {
		err = fmt.Errorf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return ack, err
}

// One source with a hundred waiters does not starve another's one
// waiter: slots freed go to the waiting sources in turn, and a source
// holding its cap does not get more while others wait.
func TestFairSemTakesSourcesInTurn(t *testing.T) {
	flood, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	s := newFairSem(2, 2)
	for range 2 {
		if !s.acquire(flood, 0, nil) {
			t.Fatal("free slot not granted")
		}
	}
	if s.acquire(other, 0, nil) {
		t.Fatal("granted with no slot free")
	}
	var granted sync.Map
	var order []string
	var mu sync.Mutex
	waiting := func(src netip.Addr, name string) {
		go func() {
			if s.acquire(src, time.Minute, nil) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				granted.Store(name, true)
			}
		}()
	}
	for i := range 100 {
		waiting(flood, fmt.Sprintf("flood-%d", i))
	}
	waitFor(t, "flood queued", func() bool { return queued(s, flood) == 100 })
	waiting(other, "other")
	waitFor(t, "other queued", func() bool { return queued(s, other) == 1 })
	s.release(flood)
	s.release(flood)
	waitFor(t, "two grants", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	if _, ok := granted.Load("other"); !ok {
		t.Fatalf("after two releases the lone waiter of the other source is still waiting; granted %v", order)
	}
	// A wait that ends without a slot leaves no trace.
	if s.acquire(netip.MustParseAddr("192.0.2.3"), time.Millisecond, nil) {
		t.Fatal("granted with every slot held")
	}
	if q := queued(s, netip.MustParseAddr("192.0.2.3")); q != 0 {
		t.Fatalf("%d waiters left after a timed-out wait", q)
	}
}

// A source at its cap waits even with slots free, and the others take
// them.
func TestFairSemPerSourceCap(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	s := newFairSem(4, 2)
	for range 2 {
		if !s.acquire(a, 0, nil) {
			t.Fatal("free slot not granted")
		}
	}
	if s.acquire(a, time.Millisecond, nil) {
		t.Fatal("source granted past its cap")
	}
	for range 2 {
		if !s.acquire(b, 0, nil) {
			t.Fatal("other source refused a free slot")
		}
	}
}

func queued(s *fairSem, src netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.waiting[src]; q != nil {
		return q.Len()
	}
	return 0
}

// "Server busy" is no way around the certificate check: a connection that
// found no authentication slot is answered 0x89 and closed, whatever its
// certificate, and the same certificate is refused at the handshake once
// a slot is free. A certificate of no fleet never takes a slot (it is
// refused by the crypto check before).
func TestBusyIsNoBypass(t *testing.T) {
	gate := make(chan struct{})
	var holding atomic.Int32
	tb := startBrokerWith(t, &fakeSink{arrived: make(chan struct{}, 1)}, func(c *Config) {
		c.MaxAuthentications = 2 // 1 per source
		c.AuthWait = 10 * time.Millisecond
		c.inAuthentication = func(string) {
			holding.Add(1)
			<-gate
		}
	})
	src := netip.MustParseAddr("127.0.0.2")
	holder := tb.device(t, "holder")
	go connectFrom(tb, holder, "holder", 5, src) // holds the source's one slot
	waitFor(t, "the slot held", func() bool { return holding.Load() == 1 })

	// Issued by the fleet CA, never recorded (so refused by the store check).
	stranger := tb.unrecorded(t, "stranger")
	ack, err := connectFrom(tb, stranger, "stranger", 5, src)
	if err != nil || ack.ReasonCode != 0x89 {
		t.Fatalf("unrecorded certificate while the slot is held: %+v %v, want CONNACK 0x89", ack, err)
	}
	// Not of the fleet at all: refused at the handshake, no slot taken.
	if _, err := connectFrom(tb, selfSigned(t, "outsider"), "outsider", 5, src); err == nil {
		t.Fatal("a certificate of no fleet passed the handshake")
	}
	if holding.Load() != 1 {
		t.Fatalf("%d authentications ran, want only the holder's", holding.Load())
	}
	close(gate)
	if _, err := connectFrom(tb, stranger, "stranger", 5, src); err == nil {
		t.Fatal("unrecorded certificate passed the handshake once a slot was free")
	}
}

// unrecorded returns a device certificate of the fleet CA that the store
// has no record of.
func (tb *testBroker) unrecorded(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := tb.ca.IssueDevice(&key.PublicKey, id, []byte(id), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

// selfSigned returns a client certificate no fleet CA issued.
func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Connections that never send their ClientHello hold no handshake slot:
// with one slot per source, a source's idle connections do not keep its
// next real device out. With the slot taken at accept (the first
// version), the idle ones held it until their handshake timeout.
func TestIdleConnectionsHoldNoHandshakeSlot(t *testing.T) {
	tb := startBrokerWith(t, &fakeSink{arrived: make(chan struct{}, 1)}, func(c *Config) {
		c.MaxHandshakes = 2 // 1 per source
		c.HandshakeTimeout = time.Minute
	})
	src := netip.MustParseAddr("127.0.0.2")
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	for range 4 {
		c, err := d.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	cert := tb.device(t, "real")
	ack, err := connectFrom(tb, cert, "real", 5, src)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("device behind idle connections of its source: %+v %v, want connected", ack, err)
	}
	if n := tb.lis.slots.inUse(); n != 0 {
		t.Fatalf("%d handshake slots held by connections that sent nothing", n)
	}
}
