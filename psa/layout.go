package psa

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every parser of a call layout when a vector
// does not match it. Each side maps it to its own status: the SPE refuses
// the call (with the status its service documents), a client reports the
// reply as ErrCommunicationFailure.
var ErrMalformed = errors.New("psa: vector does not match its call layout")

// A scalar vector holds one little-endian integer and nothing else: a key or
// operation ID, a size, an offset, a lifecycle state, support flags.

// AppendUint16 appends the 2-byte scalar vector of v.
func AppendUint16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }

// AppendUint32 appends the 4-byte scalar vector of v.
func AppendUint32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendUint64 appends the 8-byte scalar vector of v.
func AppendUint64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// ParseUint16 decodes a 2-byte scalar vector.
func ParseUint16(b []byte) (uint16, error) {
	if err := wantLen("u16", b, 2); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

// ParseUint32 decodes a 4-byte scalar vector.
func ParseUint32(b []byte) (uint32, error) {
	if err := wantLen("u32", b, 4); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// ParseUint64 decodes an 8-byte scalar vector.
func ParseUint64(b []byte) (uint64, error) {
	if err := wantLen("u64", b, 8); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// wantLen refuses a vector that is not exactly n bytes long.
func wantLen(what string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("psa: %s of %d bytes, want %d: %w", what, len(b), n, ErrMalformed)
	}
	return nil
}
