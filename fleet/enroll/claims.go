package enroll

import (
	"encoding/hex"
	"encoding/json"

	"rampart/attest"
)

// claimsRecord is what the fleet keeps of a verified token with the
// certificate issued on it (store.Certificate.Claims): every claim, byte
// strings in hex, so the console can show the device's last attestation.
type claimsRecord struct {
	Profile                string            `json:"profile,omitempty"`
	InstanceID             string            `json:"instance_id"`
	ImplementationID       string            `json:"implementation_id"`
	ClientID               int32             `json:"client_id"`
	Lifecycle              string            `json:"lifecycle"`
	BootSeed               string            `json:"boot_seed,omitempty"`
	CertificationReference string            `json:"certification_reference,omitempty"`
	VerificationService    string            `json:"verification_service,omitempty"`
	NoSoftwareMeasurements bool              `json:"no_software_measurements,omitempty"`
	SoftwareComponents     []componentRecord `json:"software_components"`
	Nonce                  string            `json:"nonce"`
	// ReleaseKeys is the device's release-key fuse claim (absent from
	// tokens of SPEs without a bootloader device, and of older ones): what
	// its bootloader trusts, awaits and refused, shown so that an operator
	// sees which devices finished a release-key rotation.
	ReleaseKeys *releaseKeysRecord `json:"release_keys,omitempty"`
}

type releaseKeysRecord struct {
	Pending   uint32 `json:"pending"`
	Activated uint32 `json:"activated"`
	Retiring  uint32 `json:"retiring"`
	Revoked   uint32 `json:"revoked"`
	Statuses  string `json:"statuses"` // "0:revoked 1:active": every key with a fuse programmed
}

type componentRecord struct {
	Type        string `json:"type,omitempty"`
	Version     string `json:"version,omitempty"`
	SignerID    string `json:"signer_id"`
	Measurement string `json:"measurement"`
	Description string `json:"description,omitempty"`
}

// claimsJSON encodes the verified claims for the certificate's row.
func claimsJSON(c *attest.Claims) string {
	r := claimsRecord{Profile: string(c.Profile), InstanceID: hex.EncodeToString(c.InstanceID), ImplementationID: hex.EncodeToString(c.ImplementationID),
		ClientID: c.ClientID, Lifecycle: c.Lifecycle.String(), BootSeed: hex.EncodeToString(c.BootSeed), CertificationReference: c.CertificationReference,
		VerificationService: c.VerificationService, NoSoftwareMeasurements: c.NoSoftwareMeasurements, Nonce: hex.EncodeToString(c.Nonce),
		SoftwareComponents: []componentRecord{}}
	for _, sc := range c.SoftwareComponents {
		r.SoftwareComponents = append(r.SoftwareComponents, componentRecord{Type: sc.MeasurementType, Version: sc.Version,
			SignerID: hex.EncodeToString(sc.SignerID), Measurement: hex.EncodeToString(sc.MeasurementValue), Description: sc.MeasurementDescription})
	}
	if f := c.KeyFuses; f != nil {
		r.ReleaseKeys = &releaseKeysRecord{Pending: f.Pending, Activated: f.Activated, Retiring: f.Retiring, Revoked: f.Revoked, Statuses: f.StatusList()}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// RecordedKeyFuses reads the release-key fuses back from a claims record
// (store.Certificate.Claims) that claimsJSON wrote: false when the record
// is empty, is not a claims record, or its token carried no fuse claim.
// It lives beside the writer so that the record's format is known in one
// place.
func RecordedKeyFuses(claims string) (attest.KeyFuses, bool) {
	if claims == "" {
		return attest.KeyFuses{}, false
	}
	var r struct {
		ReleaseKeys *releaseKeysRecord `json:"release_keys"`
	}
	if json.Unmarshal([]byte(claims), &r) != nil || r.ReleaseKeys == nil {
		return attest.KeyFuses{}, false
	}
	k := r.ReleaseKeys
	return attest.KeyFuses{Pending: k.Pending, Activated: k.Activated, Retiring: k.Retiring, Revoked: k.Revoked}, true
}
