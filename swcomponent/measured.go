package swcomponent

import "rampart/internal/cborscan"

// Measured returns a copy of record, a component in the MCUboot layout as
// imgtool writes it into the BOOT_RECORD TLV, with its measurement value
// replaced by digest: what MCUboot does when it saves the boot record for
// attestation (it writes the hash over the record's last bytes). record
// must parse with KnownKeys, its measurement value must be the map's last
// entry and exactly as long as digest.
func Measured(record, digest []byte) ([]byte, error) {
	var buf [MaxEntries]cborscan.Entry
	c, es, err := parse(record, KnownKeys, buf[:0])
	if err != nil {
		return nil, err
	}
	if len(es) == 0 || es[len(es)-1].Key != KeyMeasurementValue {
		return nil, fieldErr(FieldMeasurementValue, ErrSyntax, "not the last entry of the map")
	}
	if len(c.MeasurementValue) != len(digest) {
		return nil, fieldErr(FieldMeasurementValue, ErrSyntax, "%d bytes, the digest %d", len(c.MeasurementValue), len(digest))
	}
	out := append([]byte(nil), record...)
	copy(out[len(out)-len(digest):], digest)
	return out, nil
}
