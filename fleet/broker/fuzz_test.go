package broker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// FuzzPacketHooks decodes arbitrary bytes with mochi's packets package
// (as mochi's read loop does) and drives the broker's hooks with the
// result, in the order mochi calls them: CONNECT through checkConnect (the
// part of OnConnect after the certificate check), PUBLISH through
// mochi's validation, OnPacketRead and OnPublish, SUBSCRIBE through
// OnSubscribe and OnACLCheck. Whatever the hooks accept must satisfy a
// plain model of the ACL written from docs/fleet-server.md, and what the
// model allows must be accepted.
//
//	go test ./fleet/broker -run '^$' -fuzz FuzzPacketHooks -fuzztime 1m
func FuzzPacketHooks(f *testing.F) {
	const id = "0123456789abcdef0123456789abcdef"
	for _, v := range []byte{4, 5} {
		c := &rawClient{v: v, id: id}
		f.Add(v, c.pub(deviceproto.TelemetryTopic(id), 1, false, 1, []byte(`{"values":{"t":1}}`), packets.Properties{}))
		f.Add(v, c.pub(deviceproto.StatusTopic(id), 1, true, 2, []byte(`{"job":"j"}`), packets.Properties{ResponseTopic: "devices/" + id + "/r", CorrelationData: []byte("c"), User: []packets.UserProperty{{Key: "k", Val: "v"}}}))
		f.Add(v, c.pub("$SYS/x", 1, false, 3, []byte("x"), packets.Properties{}))
		f.Add(v, c.pub(deviceproto.JobsTopic("other"), 0, true, 0, []byte("x"), packets.Properties{}))
		for _, set := range []func(*packets.Packet){
			nil,
			withWill(deviceproto.JobsTopic("other"), true, []byte("evil"), packets.Properties{}),
			withWill(deviceproto.StatusTopic(id), true, []byte("x"), packets.Properties{ResponseTopic: "devices/" + id + "/r", User: []packets.UserProperty{{Key: "k", Val: "v"}}}),
		} {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id}}
			pk.Mods.AllowResponseInfo = true
			if set != nil {
				set(&pk)
			}
			var buf bytes.Buffer
			pk.ConnectEncode(&buf)
			f.Add(v, buf.Bytes())
		}
		sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: v, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: deviceproto.JobsTopic(id), Qos: 1}, {Filter: "devices/+/jobs"}, {Filter: "$share/g/devices/" + id + "/x"}, {Filter: "$SYS/#"}}}
		var buf bytes.Buffer
		sub.SubscribeEncode(&buf)
		f.Add(v, buf.Bytes())
	}
	tb := startBrokerWith(f, acceptAll{}, func(c *Config) { c.MessageRate = -1; c.MaxSubscriptions = 4 })
	h := &hook{b: tb.Broker}
	f.Fuzz(func(t *testing.T, v byte, data []byte) {
		if v != 4 && v != 5 {
			return
		}
		pk, err := decodePacket(v, data)
		if err != nil {
			return
		}
		switch pk.FixedHeader.Type {
		case packets.Connect:
			r := tb.limits.checkConnect(id, &pk)
			if ok, why := modelConnect(id, &pk); ok != (r == nil) {
				t.Fatalf("CONNECT: hook refusal %+v, model allows %v (%s)", r, ok, why)
			}
		case packets.Publish:
			if pk.PublishValidate(0) != packets.CodeSuccess {
				return // mochi refuses it before any hook
			}
			cl, s := fuzzSession(tb, h, id, v)
			defer h.OnDisconnect(cl, nil, true)
			refused := false
			if _, err := h.OnPacketRead(cl, pk); err != nil {
				refused = true
			} else if pk.TopicName != "" && pk.TopicName[0] == '$' && !mqtt.IsValidFilter(pk.TopicName, true) {
				refused = true // dropped by mochi after OnPacketRead answered it
			} else if _, err := h.OnPublish(cl, pk); err != nil {
				refused = true
			}
			if ok, why := modelPublish(id, &pk); ok == refused {
				t.Fatalf("PUBLISH %q retain %v: refused %v, model allows %v (%s)", pk.TopicName, pk.FixedHeader.Retain, refused, ok, why)
			}
			_ = s
		case packets.Subscribe:
			if pk.SubscribeValidate() != packets.CodeSuccess {
				return
			}
			cl, _ := fuzzSession(tb, h, id, v)
			defer h.OnDisconnect(cl, nil, true)
			out := h.OnSubscribe(cl, pk)
			if len(pk.Filters) > 4 && len(out.Filters) != 0 {
				t.Fatalf("SUBSCRIBE of %d filters beyond the quota of 4 kept %d", len(pk.Filters), len(out.Filters))
			}
			for _, f := range out.Filters {
				if got, want := h.OnACLCheck(cl, f.Filter, false), modelSubscribe(id, f.Filter); got != want {
					t.Fatalf("SUBSCRIBE %q: allowed %v, model %v", f.Filter, got, want)
				}
			}
		}
	})
}

// fuzzSession is an established session of device id over a connection
// that discards what the broker writes.
func fuzzSession(tb *testBroker, h *hook, id string, v byte) (*mqtt.Client, *session) {
	cl := tb.srv.NewClient(discardConn{}, "fuzz", id, false)
	cl.Properties.ProtocolVersion = v
	cl.State.Inflight.ResetReceiveQuota(64)
	s := newSession(tb.Broker, cl, id)
	tb.sessions.Store(cl, s)
	tb.connected.Add(1)
	return cl, s
}

// decodePacket reads one packet from data as mochi's read loop does.
func decodePacket(v byte, data []byte) (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: v}
	if len(data) < 2 {
		return pk, errors.New("short")
	}
	if err := pk.FixedHeader.Decode(data[0]); err != nil {
		return pk, err
	}
	r := bytes.NewReader(data[1:])
	n, _, err := packets.DecodeLength(r)
	if err != nil || n != r.Len() {
		return pk, fmt.Errorf("length %d of %d: %v", n, r.Len(), err)
	}
	pk.FixedHeader.Remaining = n
	body := data[len(data)-n:]
	switch pk.FixedHeader.Type {
	case packets.Connect:
		return pk, pk.ConnectDecode(body)
	case packets.Publish:
		return pk, pk.PublishDecode(body)
	case packets.Subscribe:
		return pk, pk.SubscribeDecode(body)
	}
	return pk, errors.New("not a packet the fuzz target drives")
}

// The model: docs/fleet-server.md, "Broker ACL and quotas", restated
// level by level.

func modelOwn(id, topic string) (rest []string, ok bool) {
	l := strings.Split(topic, "/")
	if len(l) < 3 || l[0] != "devices" || l[1] != id || strings.Join(l[2:], "/") == "" {
		return nil, false
	}
	return l[2:], true
}

func modelMayPublish(id, topic string) bool {
	rest, ok := modelOwn(id, topic)
	return ok && rest[0] != "jobs" && !strings.ContainsAny(topic, "+#\x00")
}

func modelProps(id string, p *packets.Properties) (bool, string) {
	n := 0
	for _, u := range p.User {
		n += len(u.Key) + len(u.Val)
	}
	switch {
	case len(p.User) > 16 || n > 1024:
		return false, "user properties"
	case p.ResponseTopic != "" && !modelMayPublish(id, p.ResponseTopic):
		return false, "response topic"
	case len(p.CorrelationData) > 256 || len(p.ContentType) > 256:
		return false, "property size"
	}
	return true, ""
}

func modelMessage(id, topic string, retain bool, size int, p *packets.Properties) (bool, string) {
	if !modelMayPublish(id, topic) {
		return false, "topic"
	}
	if retain && (topic != "devices/"+id+"/updates" || size > 32<<10) {
		return false, "retain"
	}
	return modelProps(id, p)
}

func modelPublish(id string, pk *packets.Packet) (bool, string) {
	return modelMessage(id, pk.TopicName, pk.FixedHeader.Retain, len(pk.Payload), &pk.Properties)
}

func modelConnect(id string, pk *packets.Packet) (bool, string) {
	if pk.Properties.AuthenticationMethod != "" {
		return false, "authentication method"
	}
	if ok, why := modelProps(id, &pk.Properties); !ok {
		return false, why
	}
	c := &pk.Connect
	if !c.WillFlag {
		return true, ""
	}
	if c.WillTopic == "" || len(c.WillPayload) > 4<<10 {
		return false, "will"
	}
	return modelMessage(id, c.WillTopic, c.WillRetain, len(c.WillPayload), &c.WillProperties)
}

func modelSubscribe(id, filter string) bool {
	_, ok := modelOwn(id, filter)
	return ok
}

// acceptAll is a Sink that stores nothing and reports success at once.
type acceptAll struct{}

func (acceptAll) Submit(_ string, _ []byte, done func(error)) error {
	done(nil)
	return nil
}

// discardConn is a connection whose writes go nowhere (the fuzz target
// looks at the hooks' decisions, not at the bytes).
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Read([]byte) (int, error)         { return 0, errors.New("fuzz: no reads") }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
