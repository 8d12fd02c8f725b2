package attest

import (
	"bytes"

	"rampart/swcomponent"
)

// Claims is the content of a PSA attestation token, independent of the
// profile's key numbering. Optional claims are absent when empty.
type Claims struct {
	// Profile selects the claim keys and syntax; empty means ProfileRFC9783
	// when signing.
	Profile Profile
	// Nonce is the verifier's challenge: 32, 48 or 64 bytes.
	Nonce []byte
	// InstanceID is 0x01 || SHA-256 of the attestation public key (see InstanceID).
	InstanceID []byte
	// ImplementationID identifies the immutable PSA RoT: 32 bytes.
	ImplementationID []byte
	// ClientID is the caller's security domain: < 0 non-secure, > 0 secure, never 0.
	ClientID int32
	// Lifecycle is the security lifecycle state.
	Lifecycle Lifecycle
	// BootSeed is optional (8..32 bytes); PSA_IOT_PROFILE_1 requires 32 bytes.
	BootSeed []byte
	// CertificationReference is optional: EAN-13+5 "ddddddddddddd-ddddd"
	// (the legacy profiles also allow plain EAN-13).
	CertificationReference string
	// SoftwareComponents are the boot measurements: at least one, unless
	// NoSoftwareMeasurements is set (PSA_IOT_PROFILE_1 only). Each needs a
	// measurement value and a signer ID of 32, 48 or 64 bytes; the text
	// fields are optional. The bootloader's boot records are these
	// components as they are.
	SoftwareComponents []swcomponent.Component
	// NoSoftwareMeasurements is PSA_IOT_PROFILE_1's explicit "no
	// measurements" claim, exclusive with SoftwareComponents.
	NoSoftwareMeasurements bool
	// VerificationService is the optional verification service indicator.
	VerificationService string
	// KeyFuses is Rampart's optional release-key fuse claim (KeyFusesClaim):
	// which release keys the bootloader trusts, awaits and refused.
	KeyFuses *KeyFuses
}

// isEAN13 reports whether s is 13 ASCII digits (`^[0-9]{13}$`); with
// plus5, 13 digits, '-' and 5 digits (`^[0-9]{13}-[0-9]{5}$`). Checked on
// every verification: a loop, not a regular expression.
func isEAN13(s string, plus5 bool) bool {
	n := 13
	if plus5 {
		n = 19
	}
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if plus5 && i == 13 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Equal reports whether c and d hold the same claims (nil and empty byte
// slices compare equal).
func (c *Claims) Equal(d *Claims) bool {
	if c.Profile != d.Profile || !bytes.Equal(c.Nonce, d.Nonce) || !bytes.Equal(c.InstanceID, d.InstanceID) ||
		!bytes.Equal(c.ImplementationID, d.ImplementationID) || c.ClientID != d.ClientID ||
		c.Lifecycle != d.Lifecycle || !bytes.Equal(c.BootSeed, d.BootSeed) ||
		c.CertificationReference != d.CertificationReference || c.NoSoftwareMeasurements != d.NoSoftwareMeasurements ||
		c.VerificationService != d.VerificationService || len(c.SoftwareComponents) != len(d.SoftwareComponents) {
		return false
	}
	if (c.KeyFuses == nil) != (d.KeyFuses == nil) || (c.KeyFuses != nil && *c.KeyFuses != *d.KeyFuses) {
		return false
	}
	for i := range c.SoftwareComponents {
		if !c.SoftwareComponents[i].Equal(&d.SoftwareComponents[i]) {
			return false
		}
	}
	return true
}
