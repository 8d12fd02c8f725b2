package image

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"regexp"
	"strconv"
	"sync"
	"unicode"

	"rampart/swcomponent"
)

// MaxSwTypeLength is the longest --boot-record sw_type imgtool accepts.
const MaxSwTypeLength = 12

// fieldBootRecord names the BOOT_RECORD TLV in errors.
const fieldBootRecord = "TLV 0x60 (BOOT_RECORD)"

// buildBootRecord encodes the BOOT_RECORD TLV value as imgtool does: the
// software component in swcomponent's MCUboot layout, its measurement value
// zeros for the bootloader to fill in.
func buildBootRecord(swType string, v Version, signerID []byte, h Hash) ([]byte, error) {
	if len(swType) > MaxSwTypeLength {
		return nil, argErr("boot-record", "sw_type %q is %d characters, the maximum is %d", swType, len(swType), MaxSwTypeLength)
	}
	c := measurement(swType, v, h, make([]byte, h.Size()), signerID)
	return c.Append(nil, swcomponent.MCUboot), nil
}

// measurement is the software component of an image as MCUboot's boot
// record describes it.
func measurement(swType string, v Version, h Hash, value, signerID []byte) swcomponent.Component {
	return swcomponent.Component{
		MeasurementType:        swType,
		MeasurementValue:       value,
		Version:                strconv.Itoa(int(v.Major)) + "." + strconv.Itoa(int(v.Minor)) + "." + strconv.Itoa(int(v.Revision)),
		SignerID:               signerID,
		MeasurementDescription: h.String(),
	}
}

// parseBootRecord reads a BOOT_RECORD value strictly: only the five keys
// imgtool writes (swcomponent.KnownKeys).
func parseBootRecord(b []byte) (swcomponent.Component, error) {
	c, err := swcomponent.Parse(b, swcomponent.KnownKeys)
	if err != nil {
		return swcomponent.Component{}, fieldErr(fieldBootRecord, -1, ErrMalformed, "%w", err)
	}
	return c, nil
}

// Measurement returns the software component a bootloader reports for img
// once it has checked img's hash (digest, algorithm h) and its signature by
// the key whose KEYHASH is signerID: the BOOT_RECORD's sw_type as
// measurement type ("" when img has no BOOT_RECORD), the digest as
// measurement value, the version "major.minor.revision", the signer ID and
// the hash's name as description. It is MCUboot's boot record with the
// measured hash filled in, and the reference value a release registers.
// The byte fields are copies. Its only error is a malformed BOOT_RECORD
// TLV; the component then has every field but the type.
func (img *Image) Measurement(h Hash, digest, signerID []byte) (swcomponent.Component, error) {
	c := measurement("", img.Header.Ver, h, bytes.Clone(digest), bytes.Clone(signerID))
	raw, ok := img.BootRecord()
	if !ok {
		return c, nil
	}
	r, err := parseBootRecord(raw)
	if err != nil {
		return c, err
	}
	c.MeasurementType = r.MeasurementType
	return c, nil
}

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
