package fleet

// The load test's MQTT codec: only the packets a publishing device and a
// bare acknowledging broker exchange (CONNECT, CONNACK, PUBLISH QoS 0/1,
// PUBACK, PINGREQ/PINGRESP, DISCONNECT), in MQTT 3.1.1 (protocol level 4)
// and 5. It exists so the load generator costs as little CPU as possible:
// no per-message goroutine, allocation or timer, unlike a general client.
// It must never be used outside tests: it ignores everything a load test
// does not need (will, auth, topic aliases, QoS 2).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MQTT control packet types (the high nibble of the first byte).
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktPingreq    = 12
	pktPingresp   = 13
	pktDisconnect = 14
)

var errMQTT = errors.New("mqtt")

// appendVarint appends n as an MQTT variable byte integer (0..268,435,455).
func appendVarint(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// readVarint reads a variable byte integer of at most 4 bytes.
func readVarint(r io.ByteReader) (int, error) {
	n := 0
	for i := range 4 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: variable byte integer longer than 4 bytes", errMQTT)
}

// varint decodes a variable byte integer at the start of b and returns it
// with the number of bytes it took.
func varint(b []byte) (n, size int, err error) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated variable byte integer", errMQTT)
		}
		n |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: variable byte integer longer than 4 bytes", errMQTT)
}

// readPacket reads one packet: its first byte and its body (the remaining
// length bytes), into buf when it fits. A body over max is refused before
// it is read.
func readPacket(r *bufio.Reader, buf []byte, max int) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readVarint(r)
	if err != nil {
		return 0, nil, fmt.Errorf("remaining length: %w", err)
	}
	if n > max {
		return 0, nil, fmt.Errorf("%w: packet type %d: remaining length %d exceeds %d", errMQTT, h>>4, n, max)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("packet type %d body: %w", h>>4, err)
	}
	return h, buf, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendConnect appends a clean-session CONNECT without credentials.
func appendConnect(b []byte, version byte, clientID string, keepAlive uint16) []byte {
	n := 10 + 2 + len(clientID)
	if version == 5 {
		n++ // empty properties
	}
	b = append(b, pktConnect<<4)
	b = appendVarint(b, n)
	b = appendString(b, "MQTT")
	b = append(b, version, 0x02) // clean session / clean start
	b = binary.BigEndian.AppendUint16(b, keepAlive)
	if version == 5 {
		b = append(b, 0)
	}
	return appendString(b, clientID)
}

// parseConnect returns a CONNECT's protocol level, client identifier and
// keep-alive.
func parseConnect(body []byte) (version byte, clientID string, keepAlive uint16, err error) {
	if len(body) < 10 {
		return 0, "", 0, fmt.Errorf("%w: CONNECT: %d bytes, want at least 10", errMQTT, len(body))
	}
	if string(body[:6]) != "\x00\x04MQTT" {
		return 0, "", 0, fmt.Errorf("%w: CONNECT: protocol name %q, want MQTT", errMQTT, body[:6])
	}
	version = body[6]
	if version != 4 && version != 5 {
		return 0, "", 0, fmt.Errorf("%w: CONNECT: protocol level %d, want 4 or 5", errMQTT, version)
	}
	keepAlive = binary.BigEndian.Uint16(body[8:10])
	rest := body[10:]
	if version == 5 {
		plen, size, err := varint(rest)
		if err != nil {
			return 0, "", 0, fmt.Errorf("CONNECT properties: %w", err)
		}
		if plen > len(rest)-size {
			return 0, "", 0, fmt.Errorf("%w: CONNECT: properties length %d exceeds the packet", errMQTT, plen)
		}
		rest = rest[size+plen:]
	}
	if len(rest) < 2 {
		return 0, "", 0, fmt.Errorf("%w: CONNECT: truncated client identifier", errMQTT)
	}
	l := int(binary.BigEndian.Uint16(rest))
	if l > len(rest)-2 {
		return 0, "", 0, fmt.Errorf("%w: CONNECT: client identifier length %d exceeds the packet", errMQTT, l)
	}
	return version, string(rest[2 : 2+l]), keepAlive, nil
}

// appendConnack appends a successful CONNACK (no properties).
func appendConnack(b []byte, version byte) []byte {
	if version == 5 {
		return append(b, pktConnack<<4, 3, 0, 0, 0)
	}
	return append(b, pktConnack<<4, 2, 0, 0)
}

// parseConnack checks a CONNACK accepts the connection and returns the
// server's Receive Maximum (MQTT 5; 0 when not given).
func parseConnack(body []byte, version byte) (receiveMax int, err error) {
	if len(body) < 2 {
		return 0, fmt.Errorf("%w: CONNACK: %d bytes, want at least 2", errMQTT, len(body))
	}
	if body[1] != 0 {
		return 0, fmt.Errorf("%w: CONNACK: connection refused, code 0x%02x", errMQTT, body[1])
	}
	if version != 5 {
		return 0, nil
	}
	plen, size, err := varint(body[2:])
	if err != nil {
		return 0, fmt.Errorf("CONNACK properties: %w", err)
	}
	props := body[2+size:]
	if plen > len(props) {
		return 0, fmt.Errorf("%w: CONNACK: properties length %d exceeds the packet", errMQTT, plen)
	}
	props = props[:plen]
	for len(props) > 0 {
		id := props[0]
		props = props[1:]
		var skip int
		switch id {
		case 0x21: // Receive Maximum
			if len(props) < 2 {
				return 0, fmt.Errorf("%w: CONNACK: truncated Receive Maximum", errMQTT)
			}
			receiveMax = int(binary.BigEndian.Uint16(props))
			skip = 2
		case 0x24, 0x25, 0x28, 0x29, 0x2A: // byte properties
			skip = 1
		case 0x13, 0x22: // two-byte integers
			skip = 2
		case 0x11, 0x27: // four-byte integers
			skip = 4
		case 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: // strings and binary data
			if len(props) < 2 {
				return 0, fmt.Errorf("%w: CONNACK: truncated property 0x%02x", errMQTT, id)
			}
			skip = 2 + int(binary.BigEndian.Uint16(props))
		case 0x26: // user property: two strings
			if len(props) < 2 {
				return 0, fmt.Errorf("%w: CONNACK: truncated user property", errMQTT)
			}
			k := 2 + int(binary.BigEndian.Uint16(props))
			if len(props) < k+2 {
				return 0, fmt.Errorf("%w: CONNACK: truncated user property", errMQTT)
			}
			skip = k + 2 + int(binary.BigEndian.Uint16(props[k:]))
		default:
			return 0, fmt.Errorf("%w: CONNACK: unknown property 0x%02x", errMQTT, id)
		}
		if skip > len(props) {
			return 0, fmt.Errorf("%w: CONNACK: truncated property 0x%02x", errMQTT, id)
		}
		props = props[skip:]
	}
	return receiveMax, nil
}

// appendPublish1 appends a QoS 1 PUBLISH (no properties).
func appendPublish1(b []byte, version byte, topic string, id uint16, payload []byte) []byte {
	n := 2 + len(topic) + 2 + len(payload)
	if version == 5 {
		n++
	}
	b = append(b, pktPublish<<4|0x02)
	b = appendVarint(b, n)
	b = appendString(b, topic)
	b = binary.BigEndian.AppendUint16(b, id)
	if version == 5 {
		b = append(b, 0)
	}
	return append(b, payload...)
}

// parsePublish returns a PUBLISH's QoS, packet identifier (0 at QoS 0)
// and payload. QoS 2 is refused: the load test never sends it.
func parsePublish(h byte, body []byte, version byte) (qos byte, id uint16, payload []byte, err error) {
	qos = h >> 1 & 3
	if qos > 1 {
		return 0, 0, nil, fmt.Errorf("%w: PUBLISH: QoS %d not supported", errMQTT, qos)
	}
	if len(body) < 2 {
		return 0, 0, nil, fmt.Errorf("%w: PUBLISH: truncated topic length", errMQTT)
	}
	l := int(binary.BigEndian.Uint16(body))
	if l == 0 {
		return 0, 0, nil, fmt.Errorf("%w: PUBLISH: empty topic", errMQTT)
	}
	rest := body[2:]
	if l > len(rest) {
		return 0, 0, nil, fmt.Errorf("%w: PUBLISH: topic length %d exceeds the packet", errMQTT, l)
	}
	rest = rest[l:]
	if qos == 1 {
		if len(rest) < 2 {
			return 0, 0, nil, fmt.Errorf("%w: PUBLISH: truncated packet identifier", errMQTT)
		}
		id = binary.BigEndian.Uint16(rest)
		if id == 0 {
			return 0, 0, nil, fmt.Errorf("%w: PUBLISH: packet identifier 0 at QoS 1", errMQTT)
		}
		rest = rest[2:]
	}
	if version == 5 {
		plen, size, err := varint(rest)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("PUBLISH properties: %w", err)
		}
		if plen > len(rest)-size {
			return 0, 0, nil, fmt.Errorf("%w: PUBLISH: properties length %d exceeds the packet", errMQTT, plen)
		}
		rest = rest[size+plen:]
	}
	return qos, id, rest, nil
}

// appendPuback appends a PUBACK (success; valid in both versions).
func appendPuback(b []byte, id uint16) []byte {
	return append(b, pktPuback<<4, 2, byte(id>>8), byte(id))
}

// parsePuback returns a PUBACK's packet identifier and reason code (MQTT 5;
// 0 = success, >= 0x80 = failure).
func parsePuback(body []byte, version byte) (id uint16, reason byte, err error) {
	if len(body) < 2 || version != 5 && len(body) != 2 {
		return 0, 0, fmt.Errorf("%w: PUBACK: %d bytes", errMQTT, len(body))
	}
	id = binary.BigEndian.Uint16(body)
	if id == 0 {
		return 0, 0, fmt.Errorf("%w: PUBACK: packet identifier 0", errMQTT)
	}
	if len(body) > 2 {
		reason = body[2]
	}
	return id, reason, nil
}
