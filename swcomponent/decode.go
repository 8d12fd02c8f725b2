package swcomponent

import (
	"errors"
	"fmt"

	"rampart/internal/cborscan"
)

// Limits of the reader. A component has five fields of a few dozen bytes;
// these bounds keep a hostile map from making a reader allocate or recurse
// without limit.
const (
	// MaxEntries bounds a component map, unknown entries included.
	MaxEntries = 16
	// MaxTextLen bounds each text field (the PSA token's bound on every
	// text claim and field).
	MaxTextLen = 256
	// MaxNesting bounds the nesting of an unknown entry's value.
	MaxNesting = 8
)

// Keys says which map keys [Parse] accepts besides the five it knows.
type Keys int

const (
	// AnyKeys also accepts entries with other keys, which must still be
	// well-formed CBOR and are skipped: RFC 9783 lets a token's components
	// carry more fields than the five, and a verifier ignores them. At most
	// MaxEntries entries.
	AnyKeys Keys = iota
	// KnownKeys accepts only the five known keys (so at most five entries):
	// MCUboot's BOOT_RECORD TLV, which imgtool writes with exactly those.
	KnownKeys
)

// Errors. Parse returns them inside a *FieldError.
var (
	// ErrSyntax: the map or a field is not what the format allows.
	ErrSyntax = errors.New("malformed")
	// ErrOversized: more entries or a longer text than the limits allow.
	ErrOversized = errors.New("exceeds size limit")
	// ErrMissing: a field every user needs is absent (UnmarshalCBOR).
	ErrMissing = errors.New("missing")
)

// FieldError says which field of a component is wrong.
type FieldError struct {
	Field  string // a Field* name, or "" for the map itself
	Err    error  // ErrSyntax, ErrOversized or ErrMissing
	Detail string // what was found and what was wanted; may be empty
}

func (e *FieldError) Error() string {
	s := "swcomponent: "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, sentinel error, format string, args ...any) error {
	return &FieldError{Field: field, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

func wrongType(field string, item []byte, want string) error {
	return fieldErr(field, ErrSyntax, "%s, want %s", cborscan.MajorName(cborscan.Major(item)), want)
}

// Parse reads a component from b, which must hold exactly one
// definite-length CBOR map: keys compared by value (so 2 and 0x1802
// clash) at most once each, measurement value and signer ID byte strings,
// the other three text strings of valid UTF-8 and at most MaxTextLen
// bytes, other keys as k allows, and nothing after the map. Absent fields
// stay empty: which fields a component needs is its user's rule. The byte
// fields of the result alias b.
func Parse(b []byte, k Keys) (Component, error) {
	var buf [MaxEntries]cborscan.Entry
	c, _, err := parse(b, k, buf[:0])
	return c, err
}

// parse is Parse that also returns the map's entries, in dst.
func parse(b []byte, k Keys, dst []cborscan.Entry) (Component, []cborscan.Entry, error) {
	es, err := split(b, k, dst)
	if err != nil {
		return Component{}, nil, err
	}
	var c Component
	// Fields are read in key order, whatever the map's order, so that a
	// map with several faults always reports the same one.
	for _, key := range [...]int64{KeyMeasurementType, KeyMeasurementValue, KeyVersion, KeySignerID, KeyMeasurementDescription} {
		if v, ok := cborscan.Lookup(es, key); ok {
			if err := c.set(key, v); err != nil {
				return Component{}, nil, err
			}
		}
	}
	return c, es, nil
}

// split checks the map's structure (cborscan.SplitMap) and, for
// KnownKeys, that it has no other keys.
func split(b []byte, k Keys, dst []cborscan.Entry) ([]cborscan.Entry, error) {
	limit := MaxEntries
	if k == KnownKeys {
		limit = 5
	}
	es, err := cborscan.SplitMap(b, limit, MaxNesting, dst)
	if err != nil {
		sentinel := ErrSyntax
		if errors.Is(err, cborscan.ErrTooMany) {
			sentinel = ErrOversized
		}
		return nil, &FieldError{Err: sentinel, Detail: err.Error()}
	}
	if k == KnownKeys {
		for _, e := range es {
			if !e.IntKey || fieldName(e.Key) == "" {
				return nil, fieldErr("", ErrSyntax, "unknown key %x", e.RawKey)
			}
		}
	}
	return es, nil
}

// fieldName names the field of a known key, "" for any other key.
func fieldName(key int64) string {
	switch key {
	case KeyMeasurementType:
		return FieldMeasurementType
	case KeyMeasurementValue:
		return FieldMeasurementValue
	case KeyVersion:
		return FieldVersion
	case KeySignerID:
		return FieldSignerID
	case KeyMeasurementDescription:
		return FieldMeasurementDescription
	}
	return ""
}

// set reads the value of a known key into c. val is a complete,
// well-formed item (split measured it).
func (c *Component) set(key int64, val []byte) error {
	name := fieldName(key)
	switch key {
	case KeyMeasurementValue, KeySignerID:
		if cborscan.Major(val) != cborscan.Bytes {
			return wrongType(name, val, "byte string")
		}
		if key == KeyMeasurementValue {
			c.MeasurementValue = cborscan.Content(val)
		} else {
			c.SignerID = cborscan.Content(val)
		}
	case KeyMeasurementType, KeyVersion, KeyMeasurementDescription:
		if cborscan.Major(val) != cborscan.Text {
			return wrongType(name, val, "text string")
		}
		s := cborscan.Content(val)
		if len(s) > MaxTextLen {
			return fieldErr(name, ErrOversized, "%d bytes, limit %d", len(s), MaxTextLen)
		}
		switch key {
		case KeyMeasurementType:
			c.MeasurementType = string(s)
		case KeyVersion:
			c.Version = string(s)
		default:
			c.MeasurementDescription = string(s)
		}
	}
	return nil
}
