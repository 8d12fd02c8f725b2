package attest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// A small, allocation-free reader for the definite-length CBOR (RFC 8949)
// of a claims map. It replaces reflection-based decoding on the verification
// path, where the claims are parsed for every token. It accepts exactly the
// well-formed, valid, definite-length items (non-preferred argument sizes
// included, as RFC 9783 asks) and rejects indefinite lengths, reserved
// additional-information values, invalid UTF-8, nesting deeper than
// maxNesting and lengths beyond the input.

var (
	errTruncated = errors.New("unexpected end of CBOR data")
	errIndef     = errors.New("indefinite-length item (not allowed)")
	errReserved  = errors.New("reserved CBOR additional information value")
	errDepth     = fmt.Errorf("nested deeper than %d levels", maxNesting)
	errUTF8      = errors.New("text string is not valid UTF-8")
)

// head decodes an item's initial byte and argument. n is the head's size.
func head(b []byte) (major byte, arg uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, errTruncated
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, nil
	case ai <= 27:
		size := 1 << (ai - 24)
		if len(b) < 1+size {
			return 0, 0, 0, errTruncated
		}
		for _, c := range b[1 : 1+size] {
			arg = arg<<8 | uint64(c)
		}
		return major, arg, 1 + size, nil
	case ai == 31:
		return 0, 0, 0, errIndef
	}
	return 0, 0, 0, errReserved
}

// itemSize returns the size of the first data item of b, checking it all.
func itemSize(b []byte, depth int) (int, error) {
	if depth > maxNesting {
		return 0, errDepth
	}
	major, arg, n, err := head(b)
	if err != nil {
		return 0, err
	}
	switch major {
	case majorUint, majorNint, 7:
		return n, nil
	case majorBytes, majorText:
		if arg > uint64(len(b)-n) {
			return 0, errTruncated
		}
		end := n + int(arg)
		if major == majorText && !utf8.Valid(b[n:end]) {
			return 0, errUTF8
		}
		return end, nil
	case majorArray, majorMap:
		count := arg
		if major == majorMap {
			if count > math.MaxUint64/2 {
				return 0, errTruncated
			}
			count *= 2
		}
		if count > uint64(len(b)-n) { // every item takes at least one byte
			return 0, errTruncated
		}
		off := n
		for i := uint64(0); i < count; i++ {
			m, err := itemSize(b[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += m
		}
		return off, nil
	default: // tag: one enclosed item
		m, err := itemSize(b[n:], depth+1)
		if err != nil {
			return 0, err
		}
		return n + m, nil
	}
}

// entry is one claim of a map: an integer key (intKey true) or any other
// key kept raw, and the raw value.
type entry struct {
	key    int64
	intKey bool
	rawKey []byte
	val    []byte
}

// readMap splits a definite-length map into its entries, rejecting
// duplicate keys and more than limit entries (named by name in errors).
func readMap(b []byte, name string, limit int, dst []entry) ([]entry, error) {
	major, count, n, err := head(b)
	if err != nil {
		return nil, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
	}
	if major != majorMap {
		return nil, wrongType(name, b, "map")
	}
	if count > uint64(limit) {
		return nil, claimErr(name, ErrOversized, "%d entries, limit %d", count, limit)
	}
	off := n
	for i := uint64(0); i < count; i++ {
		ks, err := itemSize(b[off:], 1)
		if err != nil {
			return nil, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
		}
		e := entry{rawKey: b[off : off+ks]}
		if km, karg, _, _ := head(e.rawKey); (km == majorUint || km == majorNint) && karg <= math.MaxInt64 {
			e.intKey, e.key = true, int64(karg)
			if km == majorNint {
				e.key = -1 - int64(karg)
			}
		}
		off += ks
		vs, err := itemSize(b[off:], 1)
		if err != nil {
			return nil, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
		}
		e.val = b[off : off+vs]
		off += vs
		for _, d := range dst {
			if (e.intKey && d.intKey && e.key == d.key) || (!e.intKey && !d.intKey && bytes.Equal(e.rawKey, d.rawKey)) {
				return nil, claimErr(name, ErrClaimSyntax, "duplicate map key %x", e.rawKey)
			}
		}
		dst = append(dst, e)
	}
	if off != len(b) {
		return nil, claimErr(name, ErrClaimSyntax, "%d bytes after the map", len(b)-off)
	}
	return dst, nil
}

// lookup finds the value of an integer key.
func lookup(es []entry, key int64) ([]byte, bool) {
	for i := range es {
		if es[i].intKey && es[i].key == key {
			return es[i].val, true
		}
	}
	return nil, false
}

// readArray splits a definite-length array at the start of b into its
// items; size is the array's length in bytes.
func readArray(b []byte, name string, limit int) (items [][]byte, size int, err error) {
	major, count, n, err := head(b)
	if err != nil {
		return nil, 0, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
	}
	if major != majorArray {
		return nil, 0, wrongType(name, b, "array")
	}
	if count > uint64(limit) {
		return nil, 0, claimErr(name, ErrOversized, "%d items, limit %d", count, limit)
	}
	items = make([][]byte, 0, count)
	off := n
	for i := uint64(0); i < count; i++ {
		s, err := itemSize(b[off:], 1)
		if err != nil {
			return nil, 0, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
		}
		items = append(items, b[off:off+s])
		off += s
	}
	return items, off, nil
}
