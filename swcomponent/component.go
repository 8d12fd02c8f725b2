// Package swcomponent is the PSA software component: the measurement of one
// piece of booted software (its type, hash, version, the hash of the key
// that signed it and the name of the hash). One type, [Component], serves
// every place Rampart meets one: MCUboot's BOOT_RECORD TLV that imgtool
// writes into an image (package image), the boot records the bootloader
// emits (boot), the software-components claim of a PSA attestation token
// (attest, spe/attestation) and the reference values of registered releases
// (fleet/store). Its map keys are those of the PSA attestation API and RFC
// 9783, which MCUboot's boot record shares.
//
// It holds the one CBOR encoder ([Component.Append]) and the one reader
// ([Parse]) of that map. The reader treats its input as hostile: strict
// (definite lengths, valid UTF-8, no duplicate keys, nothing after the map)
// and bounded (entries, text length, nesting). The package imports no other
// Rampart package except internal ones, and must never decide policy about a
// component (which hashes are trusted, which lengths a profile allows):
// that belongs to its users.
package swcomponent

import "bytes"

// Component is one measured software component.
//
// The JSON tags are the boot records' form in `rampart boot run --json`;
// the token's JSON form (hex, dashed names) belongs to package attest.
type Component struct {
	// MeasurementType is the component's role, e.g. "SPE", "NSPE", "BL"
	// (MCUboot's sw_type; optional).
	MeasurementType string `json:"measurement_type,omitempty"`
	// MeasurementValue is the component's hash (the MCUboot image hash);
	// imgtool writes zeros here for the bootloader to fill in.
	MeasurementValue []byte `json:"measurement_value"`
	// Version is the component's version text (optional), e.g. "1.2.3".
	Version string `json:"version,omitempty"`
	// SignerID is the hash of the key that signed the component (MCUboot's
	// KEYHASH).
	SignerID []byte `json:"signer_id"`
	// MeasurementDescription names the hash, e.g. "SHA256" (optional).
	MeasurementDescription string `json:"measurement_desc,omitempty"`
}

// The component map's keys (PSA attestation API, RFC 9783 section 4.4.1;
// MCUboot's boot record uses the same). Key 3, the deprecated security
// epoch, is not used.
const (
	KeyMeasurementType        = 1
	KeyMeasurementValue       = 2
	KeyVersion                = 4
	KeySignerID               = 5
	KeyMeasurementDescription = 6
)

// The fields' names in errors, as the PSA token's claim names spell them.
const (
	FieldMeasurementType        = "measurement-type"
	FieldMeasurementValue       = "measurement-value"
	FieldVersion                = "version"
	FieldSignerID               = "signer-id"
	FieldMeasurementDescription = "measurement-description"
)

// Equal reports whether c and d are the same component (nil and empty byte
// slices compare equal).
func (c *Component) Equal(d *Component) bool {
	return c.MeasurementType == d.MeasurementType && bytes.Equal(c.MeasurementValue, d.MeasurementValue) &&
		c.Version == d.Version && bytes.Equal(c.SignerID, d.SignerID) &&
		c.MeasurementDescription == d.MeasurementDescription
}

// Clone returns a copy of c that shares no memory with it.
func (c Component) Clone() Component {
	c.MeasurementValue = bytes.Clone(c.MeasurementValue)
	c.SignerID = bytes.Clone(c.SignerID)
	return c
}
