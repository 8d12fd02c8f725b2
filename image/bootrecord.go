package image

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"sync"
	"unicode"
)

// Boot record (PSA software component) keys, from the PSA attestation API.
const (
	SwComponentType                   = 1
	SwComponentMeasurementValue       = 2
	SwComponentVersion                = 4
	SwComponentSignerID               = 5
	SwComponentMeasurementDescription = 6
)

// MaxSwTypeLength is the longest --boot-record sw_type imgtool accepts.
const MaxSwTypeLength = 12

// BuildBootRecord encodes the BOOT_RECORD TLV value as imgtool does: a CBOR
// map in the order type (1), version (4), signer ID (5), measurement
// description (6), measurement value (2, zeros the bootloader fills in).
func BuildBootRecord(swType string, v Version, signerID []byte, h Hash) ([]byte, error) {
	if len(swType) > MaxSwTypeLength {
		return nil, argErr("boot-record", "sw_type %q is %d characters, the maximum is %d", swType, len(swType), MaxSwTypeLength)
	}
	ver := itoa(uint64(v.Major)) + "." + itoa(uint64(v.Minor)) + "." + itoa(uint64(v.Revision))
	b := []byte{0xa5}
	b = cborHead(b, 0, SwComponentType)
	b = cborText(b, swType)
	b = cborHead(b, 0, SwComponentVersion)
	b = cborText(b, ver)
	b = cborHead(b, 0, SwComponentSignerID)
	b = cborBytes(b, signerID)
	b = cborHead(b, 0, SwComponentMeasurementDescription)
	b = cborText(b, h.String())
	b = cborHead(b, 0, SwComponentMeasurementValue)
	b = cborBytes(b, make([]byte, h.Size()))
	return b, nil
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	return string(d)
}

// cborHead appends a CBOR head of major type mt with argument n (shortest form).
func cborHead(b []byte, mt byte, n uint64) []byte {
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

func cborText(b []byte, s string) []byte  { return append(cborHead(b, 3, uint64(len(s))), s...) }
func cborBytes(b []byte, v []byte) []byte { return append(cborHead(b, 2, uint64(len(v))), v...) }

var (
	uuidRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	uuidHexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{32}$`) })
	// NamespaceDNS is RFC 4122's DNS namespace, used for --vid names.
	NamespaceDNS = [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
)

// ParseUUID reads a --vid/--cid value as imgtool does: a UUID
// (8-4-4-4-12 hex), 32 hex digits, or any printable name, which becomes the
// name-based (SHA-1, version 5) UUID of that name in namespace ns (an error
// when ns is nil).
func ParseUUID(ns *[16]byte, value string) ([16]byte, error) {
	var u [16]byte
	switch {
	case uuidRE().MatchString(value):
		b, _ := hex.DecodeString(stripDashes(value))
		copy(u[:], b)
		return u, nil
	case uuidHexRE().MatchString(value):
		b, _ := hex.DecodeString(value)
		copy(u[:], b)
		return u, nil
	}
	for _, r := range value {
		if !unicode.IsPrint(r) {
			return u, argErr("uuid", "%q is neither a UUID nor a printable name", value)
		}
	}
	if ns == nil {
		return u, argErr("cid", "%q is a name, which needs --vid as its namespace", value)
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(value))
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

func stripDashes(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// BootRecord is the decoded BOOT_RECORD TLV: a PSA software component
// description the bootloader completes with the measured image hash.
type BootRecord struct {
	SwType                 string // key 1
	Version                string // key 4
	SignerID               []byte // key 5
	MeasurementDescription string // key 6
	MeasurementValue       []byte // key 2
}

// ParseBootRecord decodes a BOOT_RECORD value strictly: a definite-length
// CBOR map of at most 5 entries with unsigned-integer keys 1, 2, 4, 5, 6 (each
// at most once), text values for 1, 4, 6 and byte-string values for 2, 5,
// and nothing after the map.
func ParseBootRecord(b []byte) (*BootRecord, error) {
	bad := func(format string, args ...any) error {
		return fieldErr("TLV 0x60 (BOOT_RECORD)", -1, ErrMalformed, format, args...)
	}
	d := cborReader{b: b}
	mt, n, ok := d.head()
	if !ok || mt != 5 || n > 5 {
		return nil, bad("not a CBOR map of at most 5 entries")
	}
	r := &BootRecord{}
	seen := map[uint64]bool{}
	for range n {
		kt, key, ok := d.head()
		if !ok || kt != 0 || seen[key] {
			return nil, bad("entry key is not a new unsigned integer")
		}
		seen[key] = true
		vt, l, ok := d.head()
		if !ok || (vt != 2 && vt != 3) {
			return nil, bad("value of key %d is not a byte or text string", key)
		}
		v, ok := d.take(l)
		if !ok {
			return nil, bad("value of key %d runs past the record", key)
		}
		want := byte(3)
		if key == SwComponentMeasurementValue || key == SwComponentSignerID {
			want = 2
		}
		if vt != want {
			return nil, bad("value of key %d has CBOR major type %d, want %d", key, vt, want)
		}
		switch key {
		case SwComponentType:
			r.SwType = string(v)
		case SwComponentVersion:
			r.Version = string(v)
		case SwComponentSignerID:
			r.SignerID = v
		case SwComponentMeasurementDescription:
			r.MeasurementDescription = string(v)
		case SwComponentMeasurementValue:
			r.MeasurementValue = v
		default:
			return nil, bad("unknown key %d", key)
		}
	}
	if len(d.b) != 0 {
		return nil, bad("%d bytes after the map", len(d.b))
	}
	return r, nil
}

// MeasuredBootRecord returns a copy of the BOOT_RECORD value with the
// measurement value (imgtool writes zeros, last in the map) replaced by
// digest, as MCUboot does when it saves the boot record for attestation.
func MeasuredBootRecord(record, digest []byte) ([]byte, error) {
	r, err := ParseBootRecord(record)
	if err != nil {
		return nil, err
	}
	if len(r.MeasurementValue) != len(digest) {
		return nil, fieldErr("TLV 0x60 (BOOT_RECORD)", -1, ErrMalformed, "measurement value of %d bytes, digest of %d", len(r.MeasurementValue), len(digest))
	}
	tail := cborBytes([]byte{SwComponentMeasurementValue}, r.MeasurementValue)
	if !bytesHasSuffix(record, tail) {
		return nil, fieldErr("TLV 0x60 (BOOT_RECORD)", -1, ErrMalformed, "the measurement value is not the last entry")
	}
	out := append([]byte(nil), record...)
	copy(out[len(out)-len(digest):], digest)
	return out, nil
}

func bytesHasSuffix(b, s []byte) bool {
	return len(b) >= len(s) && string(b[len(b)-len(s):]) == string(s)
}

// cborReader reads CBOR heads with definite lengths only.
type cborReader struct{ b []byte }

func (d *cborReader) head() (major byte, arg uint64, ok bool) {
	if len(d.b) == 0 {
		return 0, 0, false
	}
	c := d.b[0]
	d.b = d.b[1:]
	major, ai := c>>5, c&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), true
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(d.b) < n {
			return 0, 0, false
		}
		for _, x := range d.b[:n] {
			arg = arg<<8 | uint64(x)
		}
		d.b = d.b[n:]
		return major, arg, true
	}
	return 0, 0, false // indefinite lengths and reserved values
}

func (d *cborReader) take(n uint64) ([]byte, bool) {
	if n > uint64(len(d.b)) {
		return nil, false
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v, true
}
