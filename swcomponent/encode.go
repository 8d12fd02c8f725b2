package swcomponent

import "encoding/binary"

// Layout is the order and choice of entries in an encoded component. Both
// layouts use definite lengths and the shortest heads.
type Layout int

const (
	// Deterministic is RFC 8949's core deterministic encoding: keys in
	// ascending order (1, 2, 4, 5, 6), the optional text entries (1, 4, 6)
	// left out when empty, measurement value and signer ID always present.
	// Tokens and boot records use it.
	Deterministic Layout = iota
	// MCUboot is imgtool's BOOT_RECORD TLV: all five entries in the order
	// type (1), version (4), signer ID (5), description (6), measurement
	// value (2). The value comes last so that the bootloader can write the
	// measured hash over the zeros imgtool put there without moving a byte.
	MCUboot
)

// Append appends the CBOR map of c in layout l to b. It encodes any
// component; whether one is acceptable (hash lengths, required fields) is
// for its user to check.
func (c *Component) Append(b []byte, l Layout) []byte {
	if l == MCUboot {
		b = append(b, 0xa5)
		b = appendText(b, KeyMeasurementType, c.MeasurementType)
		b = appendText(b, KeyVersion, c.Version)
		b = appendBytes(b, KeySignerID, c.SignerID)
		b = appendText(b, KeyMeasurementDescription, c.MeasurementDescription)
		return appendBytes(b, KeyMeasurementValue, c.MeasurementValue)
	}
	n := 2
	for _, s := range [...]string{c.MeasurementType, c.Version, c.MeasurementDescription} {
		if s != "" {
			n++
		}
	}
	b = append(b, 0xa0|byte(n))
	if c.MeasurementType != "" {
		b = appendText(b, KeyMeasurementType, c.MeasurementType)
	}
	b = appendBytes(b, KeyMeasurementValue, c.MeasurementValue)
	if c.Version != "" {
		b = appendText(b, KeyVersion, c.Version)
	}
	b = appendBytes(b, KeySignerID, c.SignerID)
	if c.MeasurementDescription != "" {
		b = appendText(b, KeyMeasurementDescription, c.MeasurementDescription)
	}
	return b
}

// MarshalCBOR encodes c in the Deterministic layout. It makes a Component
// encode as itself inside values that github.com/fxamacker/cbor marshals
// (a []Component is a CBOR array of component maps).
func (c Component) MarshalCBOR() ([]byte, error) { return c.Append(nil, Deterministic), nil }

// UnmarshalCBOR decodes one component as [Parse] with [AnyKeys] does, and
// refuses one without a measurement value or signer ID: every component
// Rampart emits has both, and a measurement without them says nothing.
func (c *Component) UnmarshalCBOR(b []byte) error {
	d, err := Parse(b, AnyKeys)
	if err != nil {
		return err
	}
	if len(d.MeasurementValue) == 0 {
		return &FieldError{Field: FieldMeasurementValue, Err: ErrMissing}
	}
	if len(d.SignerID) == 0 {
		return &FieldError{Field: FieldSignerID, Err: ErrMissing}
	}
	*c = d
	return nil
}

func appendText(b []byte, key byte, s string) []byte {
	return append(appendHead(append(b, key), 3, uint64(len(s))), s...)
}

func appendBytes(b []byte, key byte, v []byte) []byte {
	return append(appendHead(append(b, key), 2, uint64(len(v))), v...)
}

// appendHead appends the head of major type mt with argument n in its
// shortest form.
func appendHead(b []byte, mt byte, n uint64) []byte {
	mt <<= 5
	switch {
	case n < 24:
		return append(b, mt|byte(n))
	case n <= 0xff:
		return append(b, mt|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, mt|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, mt|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, mt|27), n)
}
