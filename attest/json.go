package attest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"rampart/swcomponent"
)

// The JSON form of Claims (used by `rampart attest verify --json` and as the
// claims file of `rampart attest create`): byte strings in lower-case hex,
// claim names as in docs/attestation-token.md, optional claims omitted.
type claimsJSON struct {
	Profile                Profile         `json:"profile,omitempty"`
	Nonce                  hexBytes        `json:"nonce,omitempty"`
	InstanceID             hexBytes        `json:"instance-id,omitempty"`
	ImplementationID       hexBytes        `json:"implementation-id"`
	ClientID               int32           `json:"client-id"`
	Lifecycle              uint16          `json:"security-lifecycle"`
	LifecycleName          string          `json:"security-lifecycle-name,omitempty"`
	BootSeed               hexBytes        `json:"boot-seed,omitempty"`
	CertificationReference string          `json:"certification-reference,omitempty"`
	SoftwareComponents     []componentJSON `json:"software-components,omitempty"`
	NoSoftwareMeasurements bool            `json:"no-software-measurements,omitempty"`
	VerificationService    string          `json:"verification-service-indicator,omitempty"`
	KeyFuses               *keyFusesJSON   `json:"release-key-fuses,omitempty"`
}

// keyFusesJSON is KeyFuses with the keys' states by name (output only).
type keyFusesJSON struct {
	KeyFuses
	Statuses string `json:"statuses,omitempty"`
}

type componentJSON struct {
	MeasurementType        string   `json:"measurement-type,omitempty"`
	MeasurementValue       hexBytes `json:"measurement-value"`
	Version                string   `json:"version,omitempty"`
	SignerID               hexBytes `json:"signer-id"`
	MeasurementDescription string   `json:"measurement-description,omitempty"`
}

type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a hex string: %w", err)
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("want a hex string: %w", err)
	}
	*h = v
	return nil
}

// MarshalJSON encodes c in its JSON form; the lifecycle also appears by name.
func (c Claims) MarshalJSON() ([]byte, error) {
	j := claimsJSON{
		Profile: c.Profile, Nonce: c.Nonce, InstanceID: c.InstanceID, ImplementationID: c.ImplementationID,
		ClientID: c.ClientID, Lifecycle: uint16(c.Lifecycle), LifecycleName: c.Lifecycle.String(),
		BootSeed: c.BootSeed, CertificationReference: c.CertificationReference,
		NoSoftwareMeasurements: c.NoSoftwareMeasurements, VerificationService: c.VerificationService,
	}
	if c.KeyFuses != nil {
		j.KeyFuses = &keyFusesJSON{KeyFuses: *c.KeyFuses, Statuses: c.KeyFuses.StatusList()}
	}
	for _, s := range c.SoftwareComponents {
		j.SoftwareComponents = append(j.SoftwareComponents, componentJSON{
			MeasurementType: s.MeasurementType, MeasurementValue: s.MeasurementValue, Version: s.Version,
			SignerID: s.SignerID, MeasurementDescription: s.MeasurementDescription,
		})
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the JSON form. Unknown fields are errors (a typo in
// a claims file must not silently drop a claim); the claims are not
// validated here (Validate, Sign and MarshalPayload do that).
func (c *Claims) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j claimsJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("attest: claims JSON: %w", err)
	}
	*c = Claims{
		Profile: j.Profile, Nonce: j.Nonce, InstanceID: j.InstanceID, ImplementationID: j.ImplementationID,
		ClientID: j.ClientID, Lifecycle: Lifecycle(j.Lifecycle), BootSeed: j.BootSeed,
		CertificationReference: j.CertificationReference, NoSoftwareMeasurements: j.NoSoftwareMeasurements,
		VerificationService: j.VerificationService,
	}
	if j.KeyFuses != nil {
		f := j.KeyFuses.KeyFuses
		c.KeyFuses = &f
	}
	for _, s := range j.SoftwareComponents {
		c.SoftwareComponents = append(c.SoftwareComponents, swcomponent.Component{
			MeasurementType: s.MeasurementType, MeasurementValue: s.MeasurementValue, Version: s.Version,
			SignerID: s.SignerID, MeasurementDescription: s.MeasurementDescription,
		})
	}
	return nil
}
