// Package cborscan walks definite-length CBOR (RFC 8949) without decoding
// it into Go values: it reads an item's head ([Head]) and measures one whole
// item, checking that it is complete and well formed ([ItemSize]). It is the
// one low-level CBOR reader under Rampart's hand-written decoders (attest's
// token envelope and claims map, swcomponent's software-component map),
// which split their input with it and then read the items they know.
//
// Its inputs are hostile. It accepts exactly the well-formed definite-length
// items (non-preferred argument sizes included, as RFC 9783 asks of
// verifiers) and must never accept indefinite lengths, reserved
// additional-information values, invalid UTF-8 in a text string or nesting
// beyond the caller's bound, never read past its input, and never allocate
// on success: the verification path runs it for every token.
package cborscan

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// The CBOR major types, from the top three bits of an item's first byte.
const (
	Uint   = 0 // unsigned integer
	Nint   = 1 // negative integer
	Bytes  = 2 // byte string
	Text   = 3 // text string
	Array  = 4
	Map    = 5
	Tag    = 6
	Simple = 7 // simple values and floats
)

var majorNames = [8]string{"unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value or float"}

// MajorName names a major type for error messages ("byte string", ...).
func MajorName(major byte) string { return majorNames[major&7] }

// Major returns the major type of the item starting item (which must not be empty).
func Major(item []byte) byte { return item[0] >> 5 }

// Errors of malformed input.
var (
	ErrTruncated  = errors.New("unexpected end of CBOR data")
	ErrIndefinite = errors.New("indefinite-length item (not allowed)")
	ErrReserved   = errors.New("reserved CBOR additional information value")
	ErrUTF8       = errors.New("text string is not valid UTF-8")
	ErrTooDeep    = errors.New("nested too deeply")
)

// Head decodes the initial byte and argument of the item at the start of
// b; n is the head's size. For strings the argument is the content length,
// for arrays and maps the count, for tags the tag number.
func Head(b []byte) (major byte, arg uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, ErrTruncated
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, nil
	case ai <= 27:
		size := 1 << (ai - 24)
		if len(b) < 1+size {
			return 0, 0, 0, ErrTruncated
		}
		for _, c := range b[1 : 1+size] {
			arg = arg<<8 | uint64(c)
		}
		return major, arg, 1 + size, nil
	case ai == 31:
		return 0, 0, 0, ErrIndefinite
	}
	return 0, 0, 0, ErrReserved
}

// ItemSize returns the size of the data item at the start of b, checking
// all of it. depth is the item's nesting level; an item nested deeper than
// maxDepth is refused.
func ItemSize(b []byte, depth, maxDepth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: more than %d levels", ErrTooDeep, maxDepth)
	}
	major, arg, n, err := Head(b)
	if err != nil {
		return 0, err
	}
	switch major {
	case Uint, Nint, Simple:
		return n, nil
	case Bytes, Text:
		if arg > uint64(len(b)-n) {
			return 0, ErrTruncated
		}
		end := n + int(arg)
		if major == Text && !utf8.Valid(b[n:end]) {
			return 0, ErrUTF8
		}
		return end, nil
	case Array, Map:
		count := arg
		if major == Map {
			if count > math.MaxUint64/2 {
				return 0, ErrTruncated
			}
			count *= 2
		}
		if count > uint64(len(b)-n) { // every item takes at least one byte
			return 0, ErrTruncated
		}
		off := n
		for i := uint64(0); i < count; i++ {
			m, err := ItemSize(b[off:], depth+1, maxDepth)
			if err != nil {
				return 0, err
			}
			off += m
		}
		return off, nil
	default: // tag: one enclosed item
		m, err := ItemSize(b[n:], depth+1, maxDepth)
		if err != nil {
			return 0, err
		}
		return n + m, nil
	}
}

// Content returns the content of a byte or text string item that ItemSize
// has measured (item is exactly the string), capped so that appending to
// it cannot overwrite what follows.
func Content(item []byte) []byte {
	_, _, n, _ := Head(item)
	return item[n:len(item):len(item)]
}
