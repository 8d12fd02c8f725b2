package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// readOne reads a single packet from b.
func readOne(b []byte, max int) (byte, []byte, error) {
	return readPacket(bufio.NewReader(bytes.NewReader(b)), nil, max)
}

func TestLoadMQTTCodecRoundTrip(t *testing.T) {
	for _, v := range []byte{4, 5} {
		h, body, err := readOne(appendConnect(nil, v, "dev-1", 3600), 1024)
		if err != nil || h>>4 != pktConnect {
			t.Fatalf("v%d CONNECT: %x %v", v, h, err)
		}
		gv, id, ka, err := parseConnect(body)
		if err != nil || gv != v || id != "dev-1" || ka != 3600 {
			t.Fatalf("v%d CONNECT parsed as %d %q %d %v", v, gv, id, ka, err)
		}
		h, body, err = readOne(appendConnack(nil, v), 1024)
		if err != nil || h>>4 != pktConnack {
			t.Fatalf("v%d CONNACK: %x %v", v, h, err)
		}
		if rm, err := parseConnack(body, v); err != nil || rm != 0 {
			t.Fatalf("v%d CONNACK parsed as %d %v", v, rm, err)
		}
		payload := []byte(`{"ts":1,"values":{"v0":1.5}}`)
		pkt := appendPublish1(nil, v, "devices/x/telemetry", 0xBEEF, payload)
		h, body, err = readOne(pkt, 1024)
		if err != nil {
			t.Fatal(err)
		}
		qos, pid, got, err := parsePublish(h, body, v)
		if err != nil || qos != 1 || pid != 0xBEEF || !bytes.Equal(got, payload) {
			t.Fatalf("v%d PUBLISH parsed as qos %d id %x %q %v", v, qos, pid, got, err)
		}
		_, body, _ = readOne(appendPuback(nil, 7), 1024)
		if id, reason, err := parsePuback(body, v); err != nil || id != 7 || reason != 0 {
			t.Fatalf("v%d PUBACK parsed as %d %x %v", v, id, reason, err)
		}
	}
	// A large remaining length uses several bytes.
	big := appendPublish1(nil, 4, "t", 1, make([]byte, 20000))
	if _, body, err := readOne(big, 1<<20); err != nil || len(body) != 2+1+2+20000 {
		t.Fatalf("large PUBLISH: %d bytes, %v", len(body), err)
	}
	// MQTT 5 CONNACK with properties: Receive Maximum among others.
	props := []byte{0x21, 0, 20, 0x24, 1, 0x12, 0, 2, 'i', 'd', 0x26, 0, 1, 'k', 0, 1, 'v', 0x27, 0, 0, 1, 0}
	body := append([]byte{0, 0, byte(len(props))}, props...)
	if rm, err := parseConnack(body, 5); err != nil || rm != 20 {
		t.Fatalf("CONNACK with properties: receive maximum %d, %v", rm, err)
	}
	if _, reason, err := parsePuback([]byte{0, 9, 0x87, 0}, 5); err != nil || reason != 0x87 {
		t.Fatalf("MQTT 5 PUBACK with reason: %x %v", reason, err)
	}
}

func TestLoadMQTTCodecRefuses(t *testing.T) {
	frames := []struct {
		name, want string
		in         []byte
		max        int
	}{
		{"empty", "EOF", nil, 1024},
		{"no remaining length", "remaining length", []byte{0x40}, 1024},
		{"remaining length over 4 bytes", "longer than 4 bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 1 << 30},
		{"oversized", "exceeds 16", []byte{0x30, 17}, 16},
		{"truncated body", "unexpected EOF", []byte{0x40, 2, 0}, 1024},
	}
	for _, c := range frames {
		_, _, err := readOne(c.in, c.max)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
	connect := appendConnect(nil, 5, "abc", 10)[2:]
	bodies := []struct {
		name, want string
		err        error
	}{
		{"short CONNECT", "at least 10", func() error { _, _, _, err := parseConnect(connect[:5]); return err }()},
		{"CONNECT protocol name", "protocol name", func() error {
			b := bytes.Clone(connect)
			b[2] = 'X'
			_, _, _, err := parseConnect(b)
			return err
		}()},
		{"CONNECT protocol level", "protocol level 3", func() error {
			b := bytes.Clone(connect)
			b[6] = 3
			_, _, _, err := parseConnect(b)
			return err
		}()},
		{"CONNECT truncated client id", "client identifier length", func() error { _, _, _, err := parseConnect(connect[:len(connect)-1]); return err }()},
		{"CONNECT properties overrun", "properties length", func() error {
			b := bytes.Clone(connect)
			b[10] = 100
			_, _, _, err := parseConnect(b)
			return err
		}()},
		{"CONNACK refused", "code 0x87", func() error { _, err := parseConnack([]byte{0, 0x87}, 4); return err }()},
		{"CONNACK short", "want at least 2", func() error { _, err := parseConnack([]byte{0}, 4); return err }()},
		{"CONNACK property overrun", "properties length", func() error { _, err := parseConnack([]byte{0, 0, 5, 0x21}, 5); return err }()},
		{"CONNACK truncated receive maximum", "Receive Maximum", func() error { _, err := parseConnack([]byte{0, 0, 2, 0x21, 0}, 5); return err }()},
		{"CONNACK unknown property", "unknown property 0x7f", func() error { _, err := parseConnack([]byte{0, 0, 1, 0x7f}, 5); return err }()},
		{"PUBLISH QoS 2", "QoS 2", func() error { _, _, _, err := parsePublish(0x34, []byte{0, 1, 't', 0, 1}, 4); return err }()},
		{"PUBLISH empty topic", "empty topic", func() error { _, _, _, err := parsePublish(0x32, []byte{0, 0, 0, 1}, 4); return err }()},
		{"PUBLISH topic overrun", "topic length 9", func() error { _, _, _, err := parsePublish(0x32, []byte{0, 9, 't'}, 4); return err }()},
		{"PUBLISH no packet id", "packet identifier", func() error { _, _, _, err := parsePublish(0x32, []byte{0, 1, 't', 0}, 4); return err }()},
		{"PUBLISH packet id 0", "identifier 0", func() error { _, _, _, err := parsePublish(0x32, []byte{0, 1, 't', 0, 0}, 4); return err }()},
		{"PUBLISH v5 properties overrun", "properties length", func() error { _, _, _, err := parsePublish(0x32, []byte{0, 1, 't', 0, 1, 9}, 5); return err }()},
		{"PUBACK short", "PUBACK: 1 bytes", func() error { _, _, err := parsePuback([]byte{0}, 4); return err }()},
		{"PUBACK v4 long", "PUBACK: 3 bytes", func() error { _, _, err := parsePuback([]byte{0, 1, 0}, 4); return err }()},
		{"PUBACK id 0", "identifier 0", func() error { _, _, err := parsePuback([]byte{0, 0}, 4); return err }()},
	}
	for _, c := range bodies {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, c.err, c.want)
		}
	}
}

// FuzzLoadMQTTPacket feeds arbitrary bytes to the load test's MQTT
// decoders (the acker's and the client's): errors, never panics, and a
// decoded PUBLISH re-encodes to the same identifier and payload.
func FuzzLoadMQTTPacket(f *testing.F) {
	for _, v := range []byte{4, 5} {
		f.Add(v, appendConnect(nil, v, "dev", 60))
		f.Add(v, appendConnack(nil, v))
		f.Add(v, appendPublish1(nil, v, "devices/d/telemetry", 1, []byte(`{"values":{"v0":1}}`)))
		f.Add(v, appendPuback(nil, 65535))
	}
	f.Add(byte(5), []byte{0x20, 6, 0, 0, 3, 0x21, 0, 5})
	f.Add(byte(4), []byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, v byte, in []byte) {
		version := 4 + v%2
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			h, body, err := readPacket(r, nil, 1<<16)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errMQTT) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			switch h >> 4 {
			case pktConnect:
				parseConnect(body)
			case pktConnack:
				parseConnack(body, version)
			case pktPuback:
				parsePuback(body, version)
			case pktPublish:
				qos, id, payload, err := parsePublish(h, body, version)
				if err != nil || qos != 1 || version != 4 {
					continue
				}
				topicLen := int(body[0])<<8 | int(body[1])
				again := appendPublish1(nil, version, string(body[2:2+topicLen]), id, payload)
				_, b2, err := readOne(again, 1<<16)
				if err != nil {
					t.Fatalf("re-encoded PUBLISH: %v", err)
				}
				_, id2, p2, err := parsePublish(0x32, b2, version)
				if err != nil || id2 != id || !bytes.Equal(p2, payload) {
					t.Fatalf("re-encoded PUBLISH: id %d payload %q, want %d %q (%v)", id2, p2, id, payload, err)
				}
			}
		}
	})
}
