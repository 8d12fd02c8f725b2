package attestation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"rampart/attest"
	"rampart/spe/storage"
)

// ExternalIAK is an attestation key held outside the SPE's storage, in a
// TPM (spe/rot): created there at provisioning, signing there, never read.
type ExternalIAK interface {
	// ProvisionIAK creates a new key (replacing one an interrupted
	// provisioning left) and returns its public half.
	ProvisionIAK() (*ecdsa.PublicKey, error)
	// IAKSigner returns the key as a signer.
	IAKSigner() (crypto.Signer, error)
}

// externalMarker starts the sealed "iak" object of an external key; the
// SubjectPublicKeyInfo that follows is the key provisioning endorsed, so a
// TPM that was cleared or swapped is noticed instead of signing with
// another key.
var externalMarker = []byte("rampart external iak v1\n")

// ProvisionExternal is Provision for an external key: only P-256 (the
// TPM's attestation key), created by ext; st records the identity and,
// sealed under huk, which public key was endorsed.
func ProvisionExternal(st *storage.Store, huk []byte, ext ExternalIAK, id Identity, rand io.Reader) (*ecdsa.PublicKey, error) {
	if len(id.ImplementationID) != attest.ImplementationIDLen {
		return nil, fmt.Errorf("attestation: implementation ID of %d bytes, want %d", len(id.ImplementationID), attest.ImplementationIDLen)
	}
	if _, err := st.Get(iakObject); err == nil {
		return nil, ErrProvisioned
	}
	idb, err := json.Marshal(identityJSON{hex.EncodeToString(id.ImplementationID), id.CertificationReference, id.VerificationService})
	if err != nil {
		return nil, err
	}
	if err := st.Put(identityObject, idb); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	pub, err := ext.ProvisionIAK()
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	// The record goes last: a device with it is a provisioned device.
	if err := st.PutSealed(iakObject, sealLabel, huk, append(append([]byte{}, externalMarker...), spki...), rand); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	return pub, nil
}

// parseIAK turns the sealed "iak" object into the signing key: a PKCS#8
// key, or the external key the record names.
func parseIAK(der []byte, ext ExternalIAK) (crypto.Signer, error) {
	if spki, ok := bytes.CutPrefix(der, externalMarker); ok {
		if ext == nil {
			return nil, errors.New("attestation: the attestation key is in a TPM: start the SPE with its --rot tpm:SPEC")
		}
		want, err := x509.ParsePKIXPublicKey(spki)
		if err != nil {
			return nil, fmt.Errorf("attestation: sealed key record: %w", err)
		}
		k, err := ext.IAKSigner()
		if err != nil {
			return nil, fmt.Errorf("attestation: %w", err)
		}
		if pk, ok := k.Public().(*ecdsa.PublicKey); !ok || !pk.Equal(want) {
			return nil, errors.New("attestation: the TPM's attestation key is not the one provisioning endorsed (TPM cleared or replaced)")
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("attestation: sealed key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("attestation: sealed key is not ECDSA")
	}
	return key, nil
}
