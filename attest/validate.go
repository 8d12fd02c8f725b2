package attest

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"rampart/swcomponent"
)

// Claim names used in errors and in the JSON form.
const (
	nameProfile      = "profile"
	nameNonce        = "nonce"
	nameInstanceID   = "instance-id"
	nameImplID       = "implementation-id"
	nameClientID     = "client-id"
	nameLifecycle    = "security-lifecycle"
	nameBootSeed     = "boot-seed"
	nameCertRef      = "certification-reference"
	nameSwComponents = "software-components"
	nameNoSw         = "no-software-measurements"
	nameVSI          = "verification-service-indicator"
)

// Validate checks every claim against the syntax of c.Profile (an empty
// profile is checked as ProfileRFC9783). It returns a *ClaimError naming the
// first claim that is wrong.
func (c *Claims) Validate() error {
	p := c.Profile
	if p == "" {
		p = ProfileRFC9783
	}
	if !p.Known() {
		return fmt.Errorf("%w: %q (want one of %q, %q, %q)", ErrProfile, p, ProfileRFC9783, ProfilePSA2, ProfileIoT1)
	}
	if len(c.Nonce) == 0 {
		return missing(nameNonce)
	}
	if !validHashLen(len(c.Nonce)) {
		return claimErr(nameNonce, ErrClaimSyntax, "%d bytes, want 32, 48 or 64", len(c.Nonce))
	}
	if len(c.InstanceID) == 0 {
		return missing(nameInstanceID)
	}
	if len(c.InstanceID) != InstanceIDLen || c.InstanceID[0] != 0x01 {
		return claimErr(nameInstanceID, ErrClaimSyntax, "want %d bytes starting with 0x01 (UEID type RAND), got %d bytes", InstanceIDLen, len(c.InstanceID))
	}
	if len(c.ImplementationID) == 0 {
		return missing(nameImplID)
	}
	if len(c.ImplementationID) != ImplementationIDLen {
		return claimErr(nameImplID, ErrClaimSyntax, "%d bytes, want %d", len(c.ImplementationID), ImplementationIDLen)
	}
	if c.ClientID == 0 {
		return claimErr(nameClientID, ErrClaimSyntax, "0 is not allowed (negative: non-secure, positive: secure)")
	}
	if !c.Lifecycle.Valid() {
		return claimErr(nameLifecycle, ErrClaimSyntax, "0x%04x is not in a defined state range", uint16(c.Lifecycle))
	}
	if err := validateBootSeed(p, c.BootSeed, len(c.BootSeed) > 0); err != nil {
		return err
	}
	if c.CertificationReference != "" {
		if err := validateCertRef(p, c.CertificationReference); err != nil {
			return err
		}
	}
	if err := validateComponents(p, c.SoftwareComponents, c.NoSoftwareMeasurements); err != nil {
		return err
	}
	return validateText(nameVSI, c.VerificationService)
}

func validateBootSeed(p Profile, seed []byte, present bool) error {
	if p == ProfileIoT1 {
		if !present {
			return missing(nameBootSeed)
		}
		if len(seed) != iot1BootSeedLen {
			return claimErr(nameBootSeed, ErrClaimSyntax, "%d bytes, want %d in %s", len(seed), iot1BootSeedLen, p)
		}
		return nil
	}
	if present && (len(seed) < minBootSeedLen || len(seed) > maxBootSeedLen) {
		return claimErr(nameBootSeed, ErrClaimSyntax, "%d bytes, want %d..%d", len(seed), minBootSeedLen, maxBootSeedLen)
	}
	return nil
}

func validateCertRef(p Profile, s string) error {
	if isEAN13(s, true) || (p != ProfileRFC9783 && isEAN13(s, false)) {
		return nil
	}
	if len(s) > MaxTextLen {
		return claimErr(nameCertRef, ErrOversized, "%d bytes, limit %d", len(s), MaxTextLen)
	}
	want := "EAN-13+5 (13 digits, '-', 5 digits)"
	if p != ProfileRFC9783 {
		want = "EAN-13 or EAN-13+5"
	}
	return claimErr(nameCertRef, ErrClaimSyntax, "%q is not %s", s, want)
}

func validateText(name, s string) error {
	if len(s) > MaxTextLen {
		return claimErr(name, ErrOversized, "%d bytes, limit %d", len(s), MaxTextLen)
	}
	if !utf8.ValidString(s) {
		return claimErr(name, ErrClaimSyntax, "not valid UTF-8")
	}
	return nil
}

func validateComponents(p Profile, scs []swcomponent.Component, none bool) error {
	if none {
		if p != ProfileIoT1 {
			return claimErr(nameNoSw, ErrClaimSyntax, "only defined in %s", ProfileIoT1)
		}
		if len(scs) > 0 {
			return claimErr(nameSwComponents, ErrClaimSyntax, "present together with %s", nameNoSw)
		}
		return nil
	}
	if len(scs) == 0 {
		return missing(nameSwComponents)
	}
	if len(scs) > MaxSoftwareComponents {
		return claimErr(nameSwComponents, ErrOversized, "%d components, limit %d", len(scs), MaxSoftwareComponents)
	}
	for i := range scs {
		if err := validateComponent(&scs[i], i); err != nil {
			return err
		}
	}
	return nil
}

// validateComponent applies the token's rules to component i: measurement
// value and signer ID are hashes (32, 48 or 64 bytes), the text fields
// short, valid UTF-8 and optional.
func validateComponent(s *swcomponent.Component, i int) error {
	// Names are built only for an error: this runs for every verified token.
	field := func(f string) string { return nameSwComponents + "[" + strconv.Itoa(i) + "]." + f }
	if len(s.MeasurementValue) == 0 {
		return missing(field(swcomponent.FieldMeasurementValue))
	}
	if !validHashLen(len(s.MeasurementValue)) {
		return claimErr(field(swcomponent.FieldMeasurementValue), ErrClaimSyntax, "%d bytes, want 32, 48 or 64", len(s.MeasurementValue))
	}
	if len(s.SignerID) == 0 {
		return missing(field(swcomponent.FieldSignerID))
	}
	if !validHashLen(len(s.SignerID)) {
		return claimErr(field(swcomponent.FieldSignerID), ErrClaimSyntax, "%d bytes, want 32, 48 or 64", len(s.SignerID))
	}
	if err := validateText(swcomponent.FieldMeasurementType, s.MeasurementType); err != nil {
		return renameClaim(err, field)
	}
	if err := validateText(swcomponent.FieldVersion, s.Version); err != nil {
		return renameClaim(err, field)
	}
	if err := validateText(swcomponent.FieldMeasurementDescription, s.MeasurementDescription); err != nil {
		return renameClaim(err, field)
	}
	return nil
}

// renameClaim qualifies the claim name of a *ClaimError.
func renameClaim(err error, qualify func(string) string) error {
	if ce, ok := err.(*ClaimError); ok {
		ce.Claim = qualify(ce.Claim)
	}
	return err
}
