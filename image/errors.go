package image

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (often
// inside a [*FieldError]), so callers can test them with errors.Is.
var (
	ErrTruncated       = errors.New("truncated")
	ErrBadMagic        = errors.New("bad magic")
	ErrMalformed       = errors.New("malformed")
	ErrUnsupported     = errors.New("unsupported")
	ErrMissingHash     = errors.New("missing hash TLV")
	ErrDuplicateHash   = errors.New("duplicated hash TLV")
	ErrHashMismatch    = errors.New("hash mismatch")
	ErrKeyNotFound     = errors.New("no signature by any of the given keys")
	ErrBadSignature    = errors.New("signature does not verify")
	ErrEncrypted       = errors.New("image is encrypted")
	ErrDecrypt         = errors.New("cannot decrypt")
	ErrTooLarge        = errors.New("too large")
	ErrInvalidArgument = errors.New("invalid argument")
)

// FieldError reports a problem with one named field of an image, at a byte
// offset when one is known (-1 otherwise). Field names follow MCUboot's C
// structures (ih_magic, ih_hdr_size, it_magic, ...).
type FieldError struct {
	Field  string // e.g. "ih_img_size", "protected TLV area", "TLV 0x10 (SHA256)"
	Offset int    // byte offset in the image, or -1
	Err    error  // one of the sentinel errors, possibly wrapped
	Detail string // human detail, may be empty
	cause  error  // an error wrapped by the detail (%w), if any
}

func (e *FieldError) Error() string {
	s := "image: " + e.Field
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (offset 0x%x)", e.Offset)
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel and any error wrapped in the detail.
func (e *FieldError) Unwrap() []error {
	if c := errors.Unwrap(e.cause); c != nil {
		return []error{e.Err, c}
	}
	return []error{e.Err}
}

func fieldErr(field string, off int, err error, format string, args ...any) error {
	d := fmt.Errorf(format, args...)
	return &FieldError{Field: field, Offset: off, Err: err, Detail: d.Error(), cause: d}
}

// argErr reports a bad signing or verification option or key.
func argErr(field, format string, args ...any) error {
	return fieldErr(field, -1, ErrInvalidArgument, format, args...)
}
