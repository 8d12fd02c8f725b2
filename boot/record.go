package boot

import (
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"rampart/image"
)

// BootRecord is the measurement of one booted image: one entry of the PSA
// attestation token's software-components claim, with the keys TF-M's boot
// record and the PSA token use. Attestation consumes the encoding of
// [BootRecord.MarshalCBOR] (or the Go value) as is.
type BootRecord struct {
	MeasurementType  string `cbor:"1,keyasint,omitempty" json:"measurement_type,omitempty"`
	MeasurementValue []byte `cbor:"2,keyasint" json:"measurement_value"`
	Version          string `cbor:"4,keyasint,omitempty" json:"version,omitempty"`
	SignerID         []byte `cbor:"5,keyasint" json:"signer_id"`
	MeasurementDesc  string `cbor:"6,keyasint,omitempty" json:"measurement_desc,omitempty"`
}

// recordEnc is CBOR's core deterministic encoding: sorted integer keys,
// shortest forms, so one record always encodes to the same bytes.
var recordEnc, _ = cbor.CoreDetEncOptions().EncMode()

var recordDec, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxNestedLevels: 4}.DecMode()

// MarshalCBOR encodes r as a CBOR map with integer keys 1, 2, 4, 5, 6.
func (r BootRecord) MarshalCBOR() ([]byte, error) {
	type plain BootRecord
	return recordEnc.Marshal(plain(r))
}

// UnmarshalCBOR decodes a record, rejecting duplicate keys and a record
// without a measurement value or signer ID.
func (r *BootRecord) UnmarshalCBOR(b []byte) error {
	type plain BootRecord
	var p plain
	if err := recordDec.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("boot: boot record: %w", err)
	}
	if len(p.MeasurementValue) == 0 {
		return fmt.Errorf("boot: boot record: measurement-value (2) is missing")
	}
	if len(p.SignerID) == 0 {
		return fmt.Errorf("boot: boot record: signer-id (5) is missing")
	}
	*r = BootRecord(p)
	return nil
}

// newBootRecord measures a validated image. The measurement type comes from
// the image's signed BOOT_RECORD TLV when it has one, else from the flash
// map's image name.
func newBootRecord(v *validImage, name string) BootRecord {
	typ := name
	if raw, ok := v.img.BootRecord(); ok {
		var tlv struct {
			Type string `cbor:"1,keyasint"`
		}
		if err := recordDec.Unmarshal(raw, &tlv); err == nil && tlv.Type != "" {
			typ = tlv.Type
		}
	}
	ver := v.version()
	return BootRecord{
		MeasurementType:  typ,
		MeasurementValue: append([]byte(nil), v.digest...),
		Version:          fmt.Sprintf("%d.%d.%d", ver.Major, ver.Minor, ver.Revision),
		SignerID:         append([]byte(nil), v.signerID...),
		MeasurementDesc:  hashDesc(v.hash),
	}
}

// hashDesc names the measurement's hash as TF-M's boot record does ("SHA256").
func hashDesc(h image.Hash) string { return strings.ToUpper(h.String()) }
