package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/store"
)

// connectWith opens a TLS connection with cert and sends a CONNECT for id
// at protocol version v, adjusted by set. It returns the client and the
// CONNACK, or the error that ended the connection before one arrived.
func (tb *testBroker) connectWith(t *testing.T, cert tls.Certificate, id string, v byte, set func(*packets.Packet)) (*rawClient, packets.Packet, error) {
	t.Helper()
	c := tb.sendConnect(t, cert, id, v, set)
	ack, err := c.next()
	return c, ack, err
}

// sendConnect opens a TLS connection with cert and sends a CONNECT for id
// at protocol version v, adjusted by set, without waiting for an answer.
func (tb *testBroker) sendConnect(t *testing.T, cert tls.Certificate, id string, v byte, set func(*packets.Packet)) *rawClient {
	t.Helper()
	conn, err := tls.Dial("tcp", tb.addr, &tls.Config{RootCAs: tb.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), v: v, id: id}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id}}
	pk.Mods.AllowResponseInfo = true // else mochi's encoder leaves response topics out
	if set != nil {
		set(&pk)
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.send(t, buf.Bytes())
	return c
}

// withWill sets a Will on a CONNECT.
func withWill(topic string, retain bool, payload []byte, props packets.Properties) func(*packets.Packet) {
	return func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillRetain, pk.Connect.WillPayload, pk.Connect.WillQos = true, topic, retain, payload, 1
		pk.Connect.WillProperties = props
	}
}

// pub encodes a PUBLISH from c.
func (c *rawClient) pub(topic string, qos byte, retain bool, id uint16, payload []byte, props packets.Properties) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain}, ProtocolVersion: c.v,
		TopicName: topic, PacketID: id, Payload: payload, Properties: props}
	pk.Mods.AllowResponseInfo = true
	var buf bytes.Buffer
	pk.PublishEncode(&buf)
	return buf.Bytes()
}

// ping sends a PINGREQ: the broker answers it after everything sent
// before, so the next packet read tells whether an earlier one was
// answered (a refused QoS 1 PUBLISH used to get nothing at all).
func (c *rawClient) ping(t *testing.T) {
	t.Helper()
	c.send(t, []byte{packets.Pingreq << 4, 0})
}

// subscribe sends a SUBSCRIBE for filters and returns the SUBACK (or the
// error that ended the connection).
func (c *rawClient) subscribe(t *testing.T, id uint16, filters ...string) (packets.Packet, error) {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: c.v, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.send(t, buf.Bytes())
	return c.next()
}

// closed reports whether the broker closed the connection, reading (and
// discarding) at most one DISCONNECT before the end.
func (c *rawClient) closed() (disconnect packets.Packet, ok bool) {
	for range 2 {
		pk, err := c.next()
		if err != nil {
			return disconnect, errors.Is(err, io.EOF) || isClosedErr(err)
		}
		if pk.FixedHeader.Type != packets.Disconnect {
			return pk, false
		}
		disconnect = pk
	}
	return disconnect, false
}

func isClosedErr(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection reset")
}

// audits returns the audit entries for action and subject, oldest first.
func (tb *testBroker) audits(t *testing.T, action, subject string) []*store.AuditEntry {
	t.Helper()
	l, err := tb.db.AuditLog(context.Background(), store.AuditFilter{Action: action, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	return l
}

// waitAudits polls until at least n audit entries exist for action and
// subject, and returns them.
func (tb *testBroker) waitAudits(t *testing.T, action, subject string, n int) []*store.AuditEntry {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // against hangs
	for {
		l := tb.audits(t, action, subject)
		if len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit entries for %s %s, want %d: %+v", len(l), action, subject, n, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// published records what the broker publishes on topics matching a
// filter, whoever the subscribers: an inline subscription of the server,
// which no ACL applies to.
type published struct {
	mu   sync.Mutex
	msgs []packets.Packet
}

func (tb *testBroker) watchTopics(t *testing.T, filter string) *published {
	t.Helper()
	p := &published{}
	if err := tb.srv.Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		p.mu.Lock()
		p.msgs = append(p.msgs, pk)
		p.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *published) topics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		out = append(out, m.TopicName)
	}
	return out
}

// waitFor polls cond until it holds (or fails the test after a minute).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // against hangs, not a timing check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
