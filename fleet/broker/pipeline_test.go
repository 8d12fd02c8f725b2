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
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
)

// fakeSink holds every submission until the test settles it, in any
// order, with any outcome.
type fakeSink struct {
	mu      sync.Mutex
	pending []fakeSub
	arrived chan struct{}
	refuse  func(payload []byte) bool
}

type fakeSub struct {
	payload []byte
	done    func(error)
}

func newFakeSink() *fakeSink { return &fakeSink{arrived: make(chan struct{}, 1)} }

func (f *fakeSink) Submit(_ string, payload []byte, done func(error)) error {
	if f.refuse != nil && f.refuse(payload) {
		return errors.New("fake: malformed")
	}
	f.mu.Lock()
	f.pending = append(f.pending, fakeSub{payload, done})
	f.mu.Unlock()
	select {
	case f.arrived <- struct{}{}:
	default:
	}
	return nil
}

// take waits for at least one submission and returns all pending.
func (f *fakeSink) take(t *testing.T) []fakeSub {
	t.Helper()
	for {
		f.mu.Lock()
		p := f.pending
		f.pending = nil
		f.mu.Unlock()
		if len(p) > 0 {
			return p
		}
		select {
		case <-f.arrived:
		case <-time.After(time.Minute):
			t.Fatal("no submission arrived")
		}
	}
}

type testBroker struct {
	*Broker
	db     *store.DB
	dbPath string
	ca     *ca.CA
	pool   *x509.CertPool
	addr   string // the broker's address, or another's (TestPipelinedCrash)
}

// startBroker runs a broker on a fresh store; a nil sink means the real
// telemetry writer on that store.
func startBroker(t *testing.T, sink Sink, window int) *testBroker {
	t.Helper()
	return startBrokerWith(t, sink, func(c *Config) { c.Window = window })
}

// startBrokerWith is startBroker with the configuration adjusted by set.
func startBrokerWith(t testing.TB, sink Sink, set func(*Config)) *testBroker {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := ca.Open(filepath.Join(dir, "ca"), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if sink == nil {
		w := telemetry.NewWriter(telemetry.WriterConfig{Store: db})
		t.Cleanup(w.Close) // after the broker's Close (cleanups run last first)
		sink = w
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueServer(&key.PublicKey, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Address: "127.0.0.1:0", CA: c, Store: db, Sink: sink,
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}
	set(&cfg)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &testBroker{Broker: b, db: db, dbPath: filepath.Join(dir, "b.db"), ca: c, pool: c.Pool(), addr: b.Addr()}
}

// device enrolls a device in the store and returns its client certificate.
func (tb *testBroker) device(t *testing.T, id string) tls.Certificate {
	t.Helper()
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := tb.db.PutEndorsement(ctx, &store.Device{ID: id, InstanceID: []byte(id)}); err != nil {
		t.Fatal(err)
	}
	cert, err := tb.ca.IssueDevice(&key.PublicKey, id, []byte(id), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.Certificate{Serial: ca.Serial(cert.SerialNumber), DeviceID: id, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw}
	if err := tb.db.RecordEnrollment(ctx, rec, []store.State{store.Registered}, &store.AuditEntry{Actor: "test", Action: "enroll", Subject: id, Decision: store.Allow}); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

// rawClient speaks MQTT by hand, so a test can have any number of
// PUBLISHes in flight and see every PUBACK as it arrives.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	v    byte
	id   string
}

func (tb *testBroker) dial(t *testing.T, cert tls.Certificate, id string, version byte) *rawClient {
	t.Helper()
	conn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), v: version, id: id}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.send(t, buf.Bytes())
	ack := c.read(t)
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK: %+v", ack)
	}
	return c
}

func (c *rawClient) send(t *testing.T, b []byte) {
	t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) publish(id uint16, payload string) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: c.v,
		TopicName: deviceproto.TelemetryTopic(c.id), PacketID: id, Payload: []byte(payload)}
	var buf bytes.Buffer
	pk.PublishEncode(&buf)
	return buf.Bytes()
}

// next reads one packet, or returns the read error (io.EOF: closed).
func (c *rawClient) next() (packets.Packet, error) {
	c.conn.SetReadDeadline(time.Now().Add(time.Minute)) // against hangs
	var pk packets.Packet
	hb, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = c.v
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	}
	return pk, err
}

func (c *rawClient) read(t *testing.T) packets.Packet {
	t.Helper()
	pk, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// settleShuffled completes every submission, in a random order, until n
// have been settled; outcome gives each one's result by payload.
func settleShuffled(t *testing.T, s *fakeSink, n int, outcome func(payload []byte) error) {
	for done := 0; done < n; {
		p := s.take(t)
		for i := range p {
			j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			p[i], p[j.Int64()] = p[j.Int64()], p[i]
		}
		for _, x := range p {
			x.done(outcome(x.payload))
		}
		done += len(p)
	}
}

func payloadN(i int) string { return fmt.Sprintf(`{"values":{"n":%d}}`, i) }

// TestPipelinedAcksInOrder: one connection sends far more QoS 1 messages
// than the window without waiting; the sink settles them in random
// order; every PUBACK arrives, in the order the PUBLISHes were sent.
func TestPipelinedAcksInOrder(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			sink := newFakeSink()
			tb := startBroker(t, sink, 16)
			id := fmt.Sprintf("%032x", v)
			c := tb.dial(t, tb.device(t, id), id, v)
			const n = 500
			go func() {
				var all []byte
				for i := range n {
					all = append(all, c.publish(uint16(i%65535+1), payloadN(i))...)
				}
				c.conn.Write(all) // the broker reads it 16 at a time
			}()
			go settleShuffled(t, sink, n, func([]byte) error { return nil })
			for i := range n {
				pk := c.read(t)
				if pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) || pk.ReasonCode != 0 {
					t.Fatalf("acknowledgement %d: type %d id %d reason %#x, want PUBACK for %d", i, pk.FixedHeader.Type, pk.PacketID, pk.ReasonCode, i+1)
				}
			}
			if got := tb.Published(); got != n {
				t.Fatalf("Published() = %d, want %d", got, n)
			}
		})
	}
}

// TestStorageFailure: a message whose batch fails is never acknowledged
// as stored. MQTT 5: a PUBACK with reason 0x80 in its turn, later messages
// acknowledged normally. MQTT 3.1.1 (no negative acknowledgement): the
// messages before it are acknowledged, then the connection is closed.
func TestStorageFailure(t *testing.T) {
	const n, bad = 40, 17
	fail := []byte(payloadN(bad))
	outcome := func(p []byte) error {
		if bytes.Equal(p, fail) {
			return errors.New("disk on fire")
		}
		return nil
	}
	t.Run("v5", func(t *testing.T) {
		sink := newFakeSink()
		tb := startBroker(t, sink, 8)
		id := fmt.Sprintf("%032x", 5)
		c := tb.dial(t, tb.device(t, id), id, 5)
		go settleShuffled(t, sink, n, outcome)
		for i := range n {
			c.send(t, c.publish(uint16(i+1), payloadN(i)))
		}
		for i := range n {
			pk := c.read(t)
			want := byte(0)
			if i == bad {
				want = packets.ErrUnspecifiedError.Code
			}
			if pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) || pk.ReasonCode != want {
				t.Fatalf("acknowledgement %d: id %d reason %#x, want id %d reason %#x", i, pk.PacketID, pk.ReasonCode, i+1, want)
			}
		}
	})
	t.Run("v3.1.1", func(t *testing.T) {
		sink := newFakeSink()
		tb := startBroker(t, sink, 64)
		id := fmt.Sprintf("%032x", 4)
		c := tb.dial(t, tb.device(t, id), id, 4)
		for i := range n {
			c.send(t, c.publish(uint16(i+1), payloadN(i)))
		}
		go settleShuffled(t, sink, n, outcome)
		for i := 0; ; i++ {
			pk, err := c.next()
			if err != nil {
				if i != bad {
					t.Fatalf("connection ended after %d acknowledgements (%v), want %d", i, err, bad)
				}
				break
			}
			if i >= bad || pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) {
				t.Fatalf("packet %d after a storage failure: type %d id %d", i, pk.FixedHeader.Type, pk.PacketID)
			}
		}
	})
}

// TestMalformedInTurn: a refused payload is answered in its turn (MQTT 5:
// 0x99) or skipped (3.1.1: no acknowledgement), never out of order.
func TestMalformedInTurn(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			sink := newFakeSink()
			sink.refuse = func(p []byte) bool { return bytes.Equal(p, []byte("junk")) }
			tb := startBroker(t, sink, 64)
			id := fmt.Sprintf("%032x", v)
			c := tb.dial(t, tb.device(t, id), id, v)
			c.send(t, c.publish(1, payloadN(1)))
			c.send(t, c.publish(2, "junk"))
			c.send(t, c.publish(3, payloadN(3)))
			settleShuffled(t, sink, 2, func([]byte) error { return nil })
			want := []struct {
				id   uint16
				code byte
			}{{1, 0}, {2, packets.ErrPayloadFormatInvalid.Code}, {3, 0}}
			if v == 4 {
				want = append(want[:1], want[2])
			}
			for _, w := range want {
				pk := c.read(t)
				if pk.PacketID != w.id || pk.ReasonCode != w.code {
					t.Fatalf("PUBACK id %d reason %#x, want id %d reason %#x", pk.PacketID, pk.ReasonCode, w.id, w.code)
				}
			}
		})
	}
}

// TestDisconnectWithAcksPending: a client leaves with a full window
// unacknowledged and its read loop blocked on the window; the batches
// settle afterwards. Nothing panics, the session is forgotten and the
// broker's goroutines for it end.
func TestDisconnectWithAcksPending(t *testing.T) {
	sink := newFakeSink()
	tb := startBroker(t, sink, 8)
	id := fmt.Sprintf("%032x", 7)
	cert := tb.device(t, id)
	before := runtime.NumGoroutine()
	c := tb.dial(t, cert, id, 5)
	for i := range 20 { // 8 queued, the read loop blocked on the 9th
		c.send(t, c.publish(uint16(i+1), payloadN(i)))
	}
	var subs []fakeSub
	for len(subs) < 8 {
		subs = append(subs, sink.take(t)...)
	}
	c.conn.Close()
	for _, s := range subs {
		s.done(nil)
	}
	// The unblocked read loop may submit the 9th before it sees the
	// closed connection: settle whatever comes.
	deadline := time.Now().Add(time.Minute) // against hangs, not a timing check
	for {
		sink.mu.Lock()
		for _, s := range sink.pending {
			s.done(nil)
		}
		sink.pending = nil
		sink.mu.Unlock()
		n := 0
		tb.sessions.Range(func(any, any) bool { n++; return true })
		if n == 0 && tb.Connected() == 0 && runtime.NumGoroutine() <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after disconnection: %d sessions, %d connected, %d goroutines (%d before)", n, tb.Connected(), runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The broker still serves: a new connection publishes and is answered.
	c = tb.dial(t, cert, id, 5)
	c.send(t, c.publish(1, payloadN(1)))
	settleShuffled(t, sink, 1, func([]byte) error { return nil })
	if pk := c.read(t); pk.PacketID != 1 || pk.ReasonCode != 0 {
		t.Fatalf("after reconnecting: %+v", pk)
	}
}

// TestPubackEncoding: the PUBACK the session writes by hand is byte for
// byte mochi's (both versions), so bypassing mochi's encoder is safe.
func TestPubackEncoding(t *testing.T) {
	for _, v := range []byte{4, 5} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: v, PacketID: 0xbeef}
		var buf bytes.Buffer
		pk.PubackEncode(&buf)
		if want := []byte{packets.Puback << 4, 2, 0xbe, 0xef}; !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("v%d: mochi encodes %x, the session writes %x", v, buf.Bytes(), want)
		}
	}
}

// TestHandshakeTimeout: a connection that never starts its TLS handshake
// is closed by the broker.
func TestHandshakeTimeout(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	tb.lis.timeout = 50 * time.Millisecond
	conn, err := net.Dial("tcp", tb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Minute)) // against hangs
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle pre-handshake connection: read %v, want EOF", err)
	}
}

// TestPipelinedAckedMeansStored: with the real telemetry writer, by the
// time the k-th PUBACK of a pipelined stream arrives, at least k samples
// are committed.
func TestPipelinedAckedMeansStored(t *testing.T) {
	tb := startBroker(t, nil, 32)
	id := fmt.Sprintf("%032x", 9)
	c := tb.dial(t, tb.device(t, id), id, 5)
	const n = 300
	go func() {
		var all []byte
		for i := range n {
			all = append(all, c.publish(uint16(i+1), payloadN(i))...)
		}
		c.conn.Write(all)
	}()
	for i := range n {
		pk := c.read(t)
		if pk.PacketID != uint16(i+1) || pk.ReasonCode != 0 {
			t.Fatalf("acknowledgement %d: id %d reason %#x", i, pk.PacketID, pk.ReasonCode)
		}
		if i%50 == 49 {
			if stored, err := tb.db.CountPoints(context.Background()); err != nil || stored < int64(i+1) {
				t.Fatalf("%d messages acknowledged, %d samples stored (%v)", i+1, stored, err)
			}
		}
	}
}

// TestOwnTelemetrySubscription: a device subscribed to its own telemetry
// topic still receives what it publishes (at QoS 0), and the PUBACK still
// waits for the commit.
func TestOwnTelemetrySubscription(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			sink := newFakeSink()
			tb := startBroker(t, sink, 8)
			id := fmt.Sprintf("%032x", 20+v)
			c := tb.dial(t, tb.device(t, id), id, v)
			sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: v, PacketID: 100,
				Filters: packets.Subscriptions{{Filter: deviceproto.TelemetryTopic(id), Qos: 1}}}
			var buf bytes.Buffer
			if err := sub.SubscribeEncode(&buf); err != nil {
				t.Fatal(err)
			}
			c.send(t, buf.Bytes())
			if pk := c.read(t); pk.FixedHeader.Type != packets.Suback {
				t.Fatalf("want SUBACK, got type %d", pk.FixedHeader.Type)
			}
			c.send(t, c.publish(1, payloadN(1)))
			pk := c.read(t)
			if pk.FixedHeader.Type != packets.Publish || pk.TopicName != deviceproto.TelemetryTopic(id) || string(pk.Payload) != payloadN(1) {
				t.Fatalf("want the device's own message, got %+v", pk)
			}
			for _, s := range sink.take(t) {
				s.done(nil)
			}
			if pk := c.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != 1 {
				t.Fatalf("want PUBACK 1, got %+v", pk)
			}
		})
	}
}
