package telemetry

import (
	"strconv"
	"unsafe"

	"rampart/deviceproto"
)

// scanCanonical decodes the payload shape devices send,
//
//	{"ts":<integer>,"values":{"<name>":<number>,...}}
//
// (ts optional, the two keys in either order, JSON whitespace anywhere)
// without reflection or a map: encoding/json spent more than a quarter of
// the server's CPU per telemetry message on it. It gives up (ok false) on
// anything else: escapes, unknown or differently cased keys, null,
// duplicate keys, a number it cannot represent exactly as encoding/json
// would. Parse then decodes with encoding/json, which stays the reference:
// whatever scanCanonical accepts must decode to the same message there
// (FuzzScanCanonical checks it), so the fast path never widens or changes
// what the server accepts.
func scanCanonical(b []byte) (m message, ok bool) {
	s := scanner{b: b}
	s.ws()
	if !s.eat('{') {
		return m, false
	}
	var seenTS, seenValues bool
	for first := true; ; first = false {
		s.ws()
		if s.eat('}') {
			if first {
				return m, false // {}: let encoding/json say what is missing
			}
			break
		}
		if !first && (!s.eat(',') || !s.wsThen()) {
			return m, false
		}
		key, ok := s.plainString()
		if !ok {
			return m, false
		}
		s.ws()
		if !s.eat(':') {
			return m, false
		}
		s.ws()
		switch string(key) {
		case "ts":
			if seenTS {
				return m, false
			}
			seenTS = true
			num, ok := s.number()
			if !ok || !isInteger(num) {
				return m, false
			}
			ts, err := strconv.ParseInt(transient(num), 10, 64)
			if err != nil {
				return m, false
			}
			m.ts = ts
		case "values":
			if seenValues {
				return m, false
			}
			seenValues = true
			if !s.values(&m) {
				return m, false
			}
		default:
			return m, false
		}
	}
	s.ws()
	return m, seenValues && s.i == len(s.b)
}

// transient views b as a string without copying it, for a strconv call
// whose result does not keep its argument (ParseInt and ParseFloat keep it
// only in their error, which the callers here drop). b must not change
// during the call: it is a slice of the payload, which nothing writes
// while it is parsed. This saves two allocations a telemetry message.
func transient(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// message is a decoded payload before validation; both decoders fill it.
type message struct {
	ts     int64
	values []sample
}

type sample struct {
	name  string
	value float64
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// wsThen skips whitespace and reports whether input remains.
func (s *scanner) wsThen() bool { s.ws(); return s.i < len(s.b) }

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes.
func (s *scanner) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20 || c == '\\' || c >= 0x7f:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// number reads a token of JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() ([]byte, bool) {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false
	}
	if s.eat('.') && !s.digits() {
		return nil, false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if !s.digits() {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// digits reads one or more decimal digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func isInteger(num []byte) bool {
	for _, c := range num {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// values reads {"name":number,...} into m.values. More than
// deviceproto.MaxTelemetryValues entries stop the scan: encoding/json then
// reports the count.
func (s *scanner) values(m *message) bool {
	if !s.eat('{') {
		return false
	}
	for first := true; ; first = false {
		s.ws()
		if s.eat('}') {
			return true
		}
		if !first && (!s.eat(',') || !s.wsThen()) {
			return false
		}
		if len(m.values) == deviceproto.MaxTelemetryValues {
			return false
		}
		key, ok := s.plainString()
		if !ok {
			return false
		}
		s.ws()
		if !s.eat(':') {
			return false
		}
		s.ws()
		num, ok := s.number()
		if !ok {
			return false
		}
		v, err := strconv.ParseFloat(transient(num), 64)
		if err != nil {
			return false // out of range: encoding/json refuses it, with its words
		}
		for _, prev := range m.values {
			if prev.name == string(key) {
				return false // duplicate: encoding/json keeps the last one
			}
		}
		m.values = append(m.values, sample{name: string(key), value: v})
	}
}
