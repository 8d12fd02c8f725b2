package cborscan

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Errors of SplitMap beyond malformed CBOR.
var (
	ErrWrongType    = errors.New("wrong type")
	ErrTooMany      = errors.New("too many map entries")
	ErrDuplicateKey = errors.New("duplicate map key")
	ErrTrailing     = errors.New("trailing bytes")
)

// Entry is one entry of a map: its key and value as encoded, and the key's
// value when it is an integer that fits in an int64 (IntKey).
type Entry struct {
	Key    int64
	IntKey bool
	RawKey []byte
	Value  []byte
}

// SplitMap checks that b holds exactly one definite-length map of at most
// limit entries, its keys and values well formed and nested at most
// maxDepth levels below the map, no key twice (integer keys are compared by
// value, so 10 and 0x180a clash; other keys by their encoding), and
// nothing after it. It appends the entries to dst, in map order, and
// allocates nothing on success when dst has room for them.
func SplitMap(b []byte, limit, maxDepth int, dst []Entry) ([]Entry, error) {
	major, count, n, err := Head(b)
	if err != nil {
		return nil, fmt.Errorf("malformed CBOR: %w", err)
	}
	if major != Map {
		return nil, fmt.Errorf("%w: %s, want map", ErrWrongType, MajorName(major))
	}
	if limit < 0 || count > uint64(limit) {
		return nil, fmt.Errorf("%w: %d, limit %d", ErrTooMany, count, limit)
	}
	off, first := n, len(dst)
	for range count {
		ks, err := ItemSize(b[off:], 1, maxDepth)
		if err != nil {
			return nil, fmt.Errorf("malformed CBOR: %w", err)
		}
		e := Entry{RawKey: b[off : off+ks]}
		if km, karg, _, _ := Head(e.RawKey); (km == Uint || km == Nint) && karg <= math.MaxInt64 {
			e.IntKey, e.Key = true, int64(karg)
			if km == Nint {
				e.Key = -1 - int64(karg)
			}
		}
		off += ks
		vs, err := ItemSize(b[off:], 1, maxDepth)
		if err != nil {
			return nil, fmt.Errorf("malformed CBOR: %w", err)
		}
		e.Value = b[off : off+vs]
		off += vs
		for _, d := range dst[first:] {
			if (e.IntKey && d.IntKey && e.Key == d.Key) || (!e.IntKey && !d.IntKey && bytes.Equal(e.RawKey, d.RawKey)) {
				return nil, fmt.Errorf("%w %x", ErrDuplicateKey, e.RawKey)
			}
		}
		dst = append(dst, e)
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the map", ErrTrailing, len(b)-off)
	}
	return dst, nil
}

// Lookup returns the value of the entry with integer key key.
func Lookup(es []Entry, key int64) ([]byte, bool) {
	for i := range es {
		if es[i].IntKey && es[i].Key == key {
			return es[i].Value, true
		}
	}
	return nil, false
}
