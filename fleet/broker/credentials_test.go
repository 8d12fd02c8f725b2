package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// TestSessionEndsAtCertificateExpiry: a connection whose certificate
// expires is closed at that moment (MQTT 5: DISCONNECT 0x87), and the end
// is audited; before, an expired certificate's session kept publishing and
// its telemetry was stored. The broker's clock is frozen inside the
// certificate's validity, so the handshake never races the expiry: only
// the session's timer (real time) ends it.
func TestSessionEndsAtCertificateExpiry(t *testing.T) {
	var frozen time.Time
	sink := newFakeSink()
	tb := startBrokerWith(t, sink, func(c *Config) { c.Now = func() time.Time { return frozen } })
	id := fmt.Sprintf("%032x", 0x80)
	cert, notAfter := tb.deviceFor(t, id, 2*time.Second)
	frozen = notAfter.Add(-300 * time.Millisecond) // the timer: 300 ms
	cl := tb.dial(t, cert, id, 5)
	cl.send(t, cl.publish(1, payloadN(1)))
	settleShuffled(t, sink, 1, func([]byte) error { return nil })
	if pk := cl.read(t); pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != 0 {
		t.Fatalf("publish before expiry: %+v", pk)
	}
	pk, ok := cl.closed()
	if !ok || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrNotAuthorized.Code || !strings.Contains(pk.Properties.ReasonString, "expired") {
		t.Fatalf("at expiry: %+v, closed %v; want DISCONNECT 0x87 \"... expired ...\"", pk.Properties.ReasonString, ok)
	}
	waitFor(t, "the session to be forgotten", func() bool { return tb.Connected() == 0 })
	if l := tb.audits(t, "mqtt.session", id); len(l) != 1 || !strings.Contains(l[0].Reason, "expired") {
		t.Fatalf("audit: %+v", l)
	}
}

// TestSupersedeEndsSessions: when the fleet issues a device a new
// certificate, the session opened with the old one ends (and its Will is
// not published: a credential the fleet no longer accepts publishes
// nothing more), a session with the new one is left alone, and a
// connection whose handshake checked the old certificate before the
// revocation is ended as soon as its session starts.
func TestSupersedeEndsSessions(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x81)
	old, _ := tb.deviceFor(t, id, time.Hour)
	seen := tb.watchTopics(t, "#")
	cl, ack, err := tb.connectWith(t, old, id, 5, withWill(deviceproto.StatusTopic(id), false, []byte("gone"), packets.Properties{}))
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v %v", ack, err)
	}
	waitFor(t, "the session", func() bool { return tb.Connected() == 1 })
	newer, _ := tb.deviceFor(t, id, time.Hour) // the store revokes the old one
	newSerial := ca.Serial(newer.Leaf.SerialNumber)
	if !tb.Supersede(id, newSerial) {
		t.Fatal("Supersede ended no session")
	}
	if pk, ok := cl.closed(); !ok || !strings.Contains(pk.Properties.ReasonString, "superseded") {
		t.Fatalf("old session: %+v closed %v", pk.Properties.ReasonString, ok)
	}
	waitFor(t, "the session to end", func() bool { return tb.Connected() == 0 })
	if slices.Contains(seen.topics(), deviceproto.StatusTopic(id)) {
		t.Fatal("the superseded session's Will was published")
	}
	cn := tb.dial(t, newer, id, 5)
	if tb.Supersede(id, newSerial) {
		t.Fatal("Supersede ended the session of the current certificate")
	}
	cn.ping(t)
	if pk := cn.read(t); pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("current session: %+v", pk)
	}
	// The race: the handshake with the old certificate passed before the
	// store revoked it (here: the store is not told), its session starts
	// after Supersede looked. watch catches it.
	tb.Supersede(id, "0123") // yet another certificate is current
	cn.closed()
	stale := tb.dial(t, newer, id, 5)
	if pk, ok := stale.closed(); !ok || !strings.Contains(pk.Properties.ReasonString, "superseded by 0123") {
		t.Fatalf("session opened with a superseded certificate: %+v closed %v", pk.Properties.ReasonString, ok)
	}
	if l := tb.audits(t, "mqtt.session", id); len(l) != 1 || !strings.Contains(l[0].Reason, "superseded") {
		t.Fatalf("audit: %+v", l)
	}
}

// TestDisconnectDropsWill: suspension or decommissioning (Disconnect)
// ends the session without publishing its Will.
func TestDisconnectDropsWill(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x82)
	cert := tb.device(t, id)
	seen := tb.watchTopics(t, "#")
	cl, ack, err := tb.connectWith(t, cert, id, 4, withWill(deviceproto.StatusTopic(id), false, []byte("gone"), packets.Properties{}))
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v %v", ack, err)
	}
	waitFor(t, "the session", func() bool { return tb.Connected() == 1 })
	if !tb.Disconnect(id, "suspended: test") {
		t.Fatal("no connection dropped")
	}
	cl.closed()
	waitFor(t, "the session to end", func() bool { return tb.Connected() == 0 })
	// A second connection's Will does go out when it drops by itself:
	// the observation works.
	cl, _, _ = tb.connectWith(t, cert, id, 4, withWill(deviceproto.TelemetryTopic(id), false, []byte("x"), packets.Properties{}))
	waitFor(t, "the session", func() bool { return tb.Connected() == 1 })
	cl.conn.Close()
	waitFor(t, "the second will", func() bool { return slices.Contains(seen.topics(), deviceproto.TelemetryTopic(id)) })
	if slices.Contains(seen.topics(), deviceproto.StatusTopic(id)) {
		t.Fatal("the Will of a disconnected device was published")
	}
}

// deviceFor is device with a certificate valid for ttl, also returning
// its expiry.
func (tb *testBroker) deviceFor(t *testing.T, id string, ttl time.Duration) (tls.Certificate, time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := tb.db.Device(ctx, id); err != nil {
		if _, err := tb.db.PutEndorsement(ctx, &store.Device{ID: id, InstanceID: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := tb.ca.IssueDevice(&key.PublicKey, id, []byte(id), ttl)
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.Certificate{Serial: ca.Serial(cert.SerialNumber), DeviceID: id, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw}
	if err := tb.db.RecordEnrollment(ctx, rec, []store.State{store.Registered, store.Active}, nil); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, cert.NotAfter
}

// TestConnectRacingSuspension: a connection whose TLS handshake checked
// the store just before its device was suspended or decommissioned
// (which revokes its certificates) must not keep a session. Disconnect
// cannot find it (mochi registers a client only after CONNECT), so it
// used to open a session on the old state. The test holds the
// connection between its checks and its registration, changes the
// store and calls Disconnect there, then lets it go on: the session is
// ended before it reads a packet (the PINGREQ sent after CONNACK gets
// no PINGRESP).
func TestConnectRacingSuspension(t *testing.T) {
	var hold atomic.Bool
	var connected atomic.Int64 // OnConnect calls: none for a session ended at its start
	reached := make(chan chan struct{}, 1)
	tb := startBrokerWith(t, newFakeSink(), func(c *Config) {
		c.OnConnect = func(string) { connected.Add(1) }
		c.afterAuthenticate = func(string) {
			if hold.CompareAndSwap(true, false) {
				release := make(chan struct{})
				reached <- release
				<-release
			}
		}
	})
	ctx := context.Background()
	var suspended tls.Certificate
	for i, to := range []store.State{store.Suspended, store.Decommissioned} {
		id := fmt.Sprintf("%032x", 0x90+i)
		cert := tb.device(t, id)
		if i == 0 {
			suspended = cert
		}
		hold.Store(true)
		cl := tb.sendConnect(t, cert, id, 5, nil)
		release := <-reached // the handshake and CONNECT passed; not registered yet
		if _, _, err := tb.db.SetState(ctx, id, to, "test", nil); err != nil {
			t.Fatal(err)
		}
		if tb.Disconnect(id, string(to)+": test") {
			t.Fatalf("%s: Disconnect found the connection: the test missed the window it is about", to)
		}
		close(release)
		if ack, err := cl.next(); err == nil && ack.FixedHeader.Type == packets.Connack {
			cl.ping(t)
		}
		if pk, ok := cl.closed(); !ok || pk.FixedHeader.Type == packets.Pingresp {
			t.Fatalf("%s: the connection checked before the change opened a session: got %s, closed %v", to, packets.PacketNames[pk.FixedHeader.Type], ok)
		}
		waitFor(t, "no session", func() bool { return tb.Connected() == 0 })
		if l := tb.audits(t, "mqtt.session", id); len(l) != 1 || !strings.Contains(l[0].Reason, "dropped by the fleet ("+string(to)+": test)") {
			t.Fatalf("%s: audit %+v", to, l)
		}
	}
	// A connection that begins after Disconnect is checked against the
	// store as it is then: a resumed device connects again.
	id := fmt.Sprintf("%032x", 0x90)
	if _, _, err := tb.db.SetState(ctx, id, store.Active, "resumed", nil); err != nil {
		t.Fatal(err)
	}
	cl := tb.dial(t, suspended, id, 5)
	cl.ping(t)
	if pk := cl.read(t); pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("resumed device: %+v", pk)
	}
	if n := connected.Load(); n != 1 {
		t.Fatalf("OnConnect called %d times, want once (the resumed device's session only)", n)
	}
}

// TestRecheckEndsStaleSessions: Recheck ends the sessions whose device
// the store no longer accepts (suspended, or its certificate revoked)
// without a Disconnect having reached this broker (a node of a cluster cut
// off from the others), and leaves the others alone.
func TestRecheckEndsStaleSessions(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	ctx := context.Background()
	ids := []string{fmt.Sprintf("%032x", 0x91), fmt.Sprintf("%032x", 0x92), fmt.Sprintf("%032x", 0x93)}
	var cls []*rawClient
	for _, id := range ids {
		cert, _ := tb.deviceFor(t, id, time.Hour)
		cls = append(cls, tb.dial(t, cert, id, 5))
	}
	waitFor(t, "three sessions", func() bool { return tb.Connected() == 3 })
	if n, err := tb.Recheck(ctx); n != 0 || err != nil {
		t.Fatalf("nothing changed: %d ended, %v", n, err)
	}
	// The store changes behind the broker's back: one device suspended.
	if _, _, err := tb.db.SetState(ctx, ids[1], store.Suspended, "stolen", nil); err != nil {
		t.Fatal(err)
	}
	if n, err := tb.Recheck(ctx); n != 1 || err != nil {
		t.Fatalf("after a suspension: %d ended, %v", n, err)
	}
	if pk, ok := cls[1].closed(); !ok || !strings.Contains(pk.Properties.ReasonString, "suspended") {
		t.Fatalf("the suspended device's session: %+v %v", pk.Properties.ReasonString, ok)
	}
	waitFor(t, "two sessions left", func() bool { return tb.Connected() == 2 })
	if l := tb.audits(t, "mqtt.session", ids[1]); len(l) != 1 || !strings.Contains(l[0].Reason, "suspended") {
		t.Fatalf("audit: %+v", l)
	}
	cls[0].ping(t)
	cls[2].ping(t)
}

// TestSupersedeAfterGrace: a re-enrollment the fleet asked for (a CA
// rotation's) leaves the session of the old certificate open until the
// device connects with the new one, which takes it over, and ends it
// after the grace otherwise.
func TestSupersedeAfterGrace(t *testing.T) {
	tb := startBroker(t, newFakeSink(), 8)
	id := fmt.Sprintf("%032x", 0x83)
	old, _ := tb.deviceFor(t, id, time.Hour)
	cl, ack, err := tb.connectWith(t, old, id, 5, nil)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v %v", ack, err)
	}
	waitFor(t, "the session", func() bool { return tb.Connected() == 1 })
	newer, _ := tb.deviceFor(t, id, time.Hour)
	if !tb.SupersedeAfter(id, ca.Serial(newer.Leaf.SerialNumber), time.Hour) {
		t.Fatal("SupersedeAfter found no session to end")
	}
	time.Sleep(100 * time.Millisecond)
	if tb.Connected() != 1 {
		t.Fatal("the old certificate's session ended within its grace")
	}
	// The device connects with the new certificate: it takes the session over.
	cn := tb.dial(t, newer, id, 5)
	cn.ping(t)
	if pk := cn.read(t); pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("new session: %+v", pk)
	}
	if _, ok := cl.closed(); !ok {
		t.Fatal("the old certificate's session was not taken over")
	}
	waitFor(t, "one session", func() bool { return tb.Connected() == 1 })

	// Without a takeover the old session ends after the grace.
	id2 := fmt.Sprintf("%032x", 0x84)
	old2, _ := tb.deviceFor(t, id2, time.Hour)
	cl2, ack, err := tb.connectWith(t, old2, id2, 5, nil)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v %v", ack, err)
	}
	newer2, _ := tb.deviceFor(t, id2, time.Hour)
	tb.SupersedeAfter(id2, ca.Serial(newer2.Leaf.SerialNumber), 200*time.Millisecond)
	if pk, ok := cl2.closed(); !ok || !strings.Contains(pk.Properties.ReasonString, "superseded") {
		t.Fatalf("old session after the grace: %+v closed %v", pk.Properties.ReasonString, ok)
	}
}
