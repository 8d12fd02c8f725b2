package boot

import "rampart/swcomponent"

// newBootRecord measures a validated image: the software component of
// image.Measurement, which attestation puts into the token's
// software-components claim as it is. The measurement type comes from the
// image's signed BOOT_RECORD TLV when it has one, else from the flash map's
// image name; a malformed BOOT_RECORD does not stop the boot (MCUboot never
// reads it, it only writes the hash into it) and measures under the name.
func newBootRecord(v *validImage, name string) swcomponent.Component {
	c, err := v.img.Measurement(v.hash, v.digest, v.signerID)
	if err != nil || c.MeasurementType == "" {
		c.MeasurementType = name
	}
	return c
}
