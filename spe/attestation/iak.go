package attestation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"rampart/attest"
	"rampart/spe/storage"
)

// Object names in the attestation store.
const (
	iakObject      = "iak"
	identityObject = "identity"
	sealLabel      = "initial attestation key"
)

// SealKeyLabel is the HKDF label of the key that seals the IAK:
// HKDF-SHA256(HUK, SealKeyLabel). An attestation partition without the HUK
// (isolation level 3) gets that key from the root key partition.
var SealKeyLabel = storage.SealLabel(sealLabel)

// ErrNotProvisioned is returned when the device has no IAK yet.
var ErrNotProvisioned = errors.New("attestation: device not provisioned (no attestation key)")

// ErrProvisioned is returned when provisioning would replace an existing IAK.
var ErrProvisioned = errors.New("attestation: attestation key already provisioned")

// Identity is what provisioning fixes about the device besides the key.
type Identity struct {
	// ImplementationID identifies the PSA RoT implementation: 32 bytes.
	ImplementationID []byte
	// CertificationReference is the optional EAN-13+5 PSA Certified reference.
	CertificationReference string
	// VerificationService is an optional verification service indicator.
	VerificationService string
}

type identityJSON struct {
	ImplementationID       string `json:"implementation_id"`
	CertificationReference string `json:"certification_reference,omitempty"`
	VerificationService    string `json:"verification_service,omitempty"`
}

// Provision generates the IAK inside the SPE on curve (P-256 or P-384),
// seals it under huk in st and records id. It refuses a device that already
// has an IAK. It returns the public key, for the endorsement.
func Provision(st *storage.Store, huk []byte, curve elliptic.Curve, id Identity, rand io.Reader) (*ecdsa.PublicKey, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	if curve != elliptic.P256() && curve != elliptic.P384() {
		return nil, errors.New("attestation: the attestation key must be P-256 or P-384")
	}
	if len(id.ImplementationID) != attest.ImplementationIDLen {
		return nil, fmt.Errorf("attestation: implementation ID of %d bytes, want %d", len(id.ImplementationID), attest.ImplementationIDLen)
	}
	if _, err := st.Get(iakObject); err == nil {
		return nil, ErrProvisioned
	}
	key, err := ecdsa.GenerateKey(curve, rand)
	if err != nil {
		return nil, fmt.Errorf("attestation: generating the attestation key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	idb, err := json.Marshal(identityJSON{hex.EncodeToString(id.ImplementationID), id.CertificationReference, id.VerificationService})
	if err != nil {
		return nil, err
	}
	if err := st.Put(identityObject, idb); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	// The key goes last: a device with an IAK is a provisioned device.
	if err := st.PutSealed(iakObject, sealLabel, huk, der, rand); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	return &key.PublicKey, nil
}

// load reads the sealed IAK (or the record of an external one) and the
// identity, unsealing with the HUK or, without it, with sealKey.
func load(st *storage.Store, huk, sealKey []byte, ext ExternalIAK) (crypto.Signer, *Identity, error) {
	var der []byte
	var err error
	if huk == nil && sealKey != nil {
		der, err = st.GetSealedWithKey(iakObject, sealLabel, sealKey)
	} else {
		der, err = st.GetSealed(iakObject, sealLabel, huk)
	}
	if errors.Is(err, storage.ErrNotExist) {
		return nil, nil, ErrNotProvisioned
	}
	if err != nil {
		return nil, nil, fmt.Errorf("attestation: %w", err)
	}
	key, err := parseIAK(der, ext)
	if err != nil {
		return nil, nil, err
	}
	b, err := st.Get(identityObject)
	if err != nil {
		return nil, nil, fmt.Errorf("attestation: identity: %w", err)
	}
	var ij identityJSON
	if err := json.Unmarshal(b, &ij); err != nil {
		return nil, nil, fmt.Errorf("attestation: identity: %w", err)
	}
	impl, err := hex.DecodeString(ij.ImplementationID)
	if err != nil || len(impl) != attest.ImplementationIDLen {
		return nil, nil, fmt.Errorf("attestation: identity: implementation_id is not %d bytes of hex", attest.ImplementationIDLen)
	}
	return key, &Identity{impl, ij.CertificationReference, ij.VerificationService}, nil
}
