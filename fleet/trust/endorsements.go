package trust

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"

	"rampart/attest"
	"rampart/fleet/store"
)

// MaxSignedSize bounds a signed endorsement file (attest.MaxSignedEndorsementsSize).
const MaxSignedSize = attest.MaxSignedEndorsementsSize

// ErrUntrusted: no trusted manufacturer key verifies the signature.
var ErrUntrusted = errors.New("trust: endorsement signature not verified by any trusted manufacturer key")

// VerifyEndorsements checks a signed endorsement list in attest's one
// format (the COSE_Sign1 `rampart spe provision` writes) against the trusted
// manufacturer keys (name -> key): any key that verifies it is accepted, and
// its name is returned as the manufacturer. A signature no trusted key
// verifies wraps ErrUntrusted; a malformed file or list does not.
func VerifyEndorsements(data []byte, manufacturers map[string]*ecdsa.PublicKey) (string, *attest.EndorsementList, error) {
	who, s, err := verifySigned(data, manufacturers)
	if err != nil {
		return "", nil, err
	}
	return who, s.List, nil
}

func verifySigned(data []byte, manufacturers map[string]*ecdsa.PublicKey) (string, *attest.SignedEndorsements, error) {
	who, s, err := attest.VerifyAny(data, manufacturers)
	if errors.Is(err, attest.ErrSignature) {
		return "", nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("trust: %w", err)
	}
	return who, s, nil
}

// DeviceID is the fleet's name for a device: the hex of the first 16 bytes
// of the hash in its instance ID (32 characters, fit for a certificate
// common name and an MQTT topic level).
func DeviceID(instanceID []byte) string {
	if len(instanceID) < 17 {
		return hex.EncodeToString(instanceID)
	}
	return hex.EncodeToString(instanceID[1:17])
}

// ImportResult reports what an import changed.
type ImportResult struct {
	Manufacturer string   `json:"manufacturer"`
	Added        []string `json:"added"`
	Updated      []string `json:"updated"`
	// Refused lists endorsements not recorded because they would change
	// the key or manufacturer of a device in service (each is audited).
	Refused []Refused `json:"refused,omitempty"`
}

// Refused is one endorsement an import did not record, and why.
type Refused struct {
	DeviceID string `json:"device_id"`
	Reason   string `json:"reason"`
}

// Import verifies a signed endorsement file and records every endorsement
// (new devices start registered). Both outcomes are audited by actor.
func Import(ctx context.Context, db *store.DB, data []byte, manufacturers map[string]*ecdsa.PublicKey, actor string) (*ImportResult, error) {
	who, signed, err := verifySigned(data, manufacturers)
	if err != nil {
		db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "endorsements.import", Subject: "", Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	res := &ImportResult{Manufacturer: who}
	for _, e := range signed.List.All() {
		pemKey, err := e.PublicKeyPEM()
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		d := &store.Device{ID: DeviceID(e.InstanceID), InstanceID: e.InstanceID, ImplementationID: e.ImplementationID, PublicKeyPEM: pemKey, Comment: e.Comment, Manufacturer: who}
		created, err := db.PutEndorsement(ctx, d)
		if errors.Is(err, store.ErrConflict) {
			res.Refused = append(res.Refused, Refused{DeviceID: d.ID, Reason: err.Error()})
			db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "endorsements.import", Subject: d.ID, Decision: store.Deny, Reason: err.Error()})
			continue
		}
		if err != nil {
			return nil, err
		}
		if created {
			res.Added = append(res.Added, d.ID)
		} else {
			res.Updated = append(res.Updated, d.ID)
		}
	}
	db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "endorsements.import", Subject: who, Decision: store.Allow,
		Reason: fmt.Sprintf("signed by %s (kid %q): %d added, %d updated, %d refused", who, signed.KeyID, len(res.Added), len(res.Updated), len(res.Refused))})
	return res, nil
}
