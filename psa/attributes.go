package psa

import (
	"encoding/binary"
	"fmt"
)

// KeyAttributes is psa_key_attributes_t.
type KeyAttributes struct {
	Type      KeyType
	Bits      int
	Lifetime  Lifetime
	ID        KeyID
	Usage     Usage
	Algorithm Algorithm
}

// AttributesSize is the length of encoded attributes on the wire.
const AttributesSize = 24

// MarshalBinary encodes a as 24 little-endian bytes: type u16, reserved u16,
// bits u32, lifetime u32, id u32, usage u32, algorithm u32.
func (a KeyAttributes) MarshalBinary() ([]byte, error) {
	if a.Bits < 0 || int64(a.Bits) > 0xffffffff {
		return nil, fmt.Errorf("psa: attributes: bits %d out of range", a.Bits)
	}
	return a.appendTo(nil), nil
}

func (a KeyAttributes) appendTo(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(a.Type))
	b = append(b, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(a.Bits))
	b = binary.LittleEndian.AppendUint32(b, uint32(a.Lifetime))
	b = binary.LittleEndian.AppendUint32(b, uint32(a.ID))
	b = binary.LittleEndian.AppendUint32(b, uint32(a.Usage))
	return binary.LittleEndian.AppendUint32(b, uint32(a.Algorithm))
}

// AppendAttributes appends a's encoding to b.
func AppendAttributes(b []byte, a KeyAttributes) []byte { return a.appendTo(b) }

// UnmarshalBinary decodes exactly AttributesSize bytes.
func (a *KeyAttributes) UnmarshalBinary(b []byte) error {
	if len(b) != AttributesSize {
		return fmt.Errorf("psa: attributes: %d bytes, want %d: %w", len(b), AttributesSize, ErrMalformed)
	}
	if b[2] != 0 || b[3] != 0 {
		return fmt.Errorf("psa: attributes: reserved bytes are not zero: %w", ErrMalformed)
	}
	le := binary.LittleEndian
	bits := le.Uint32(b[4:])
	if bits > 1<<16 {
		return fmt.Errorf("psa: attributes: bits %d out of range: %w", bits, ErrMalformed)
	}
	*a = KeyAttributes{
		Type:      KeyType(le.Uint16(b)),
		Bits:      int(bits),
		Lifetime:  Lifetime(le.Uint32(b[8:])),
		ID:        KeyID(le.Uint32(b[12:])),
		Usage:     Usage(le.Uint32(b[16:])),
		Algorithm: Algorithm(le.Uint32(b[20:])),
	}
	return nil
}

// IsPersistent reports whether the lifetime's persistence is not volatile.
func (l Lifetime) IsPersistent() bool { return l&0xff != 0 }
