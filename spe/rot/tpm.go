package rot

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The persistent handles of Rampart's objects, in the owner range
// (0x81000000-0x817FFFFF); 0x52 is "R".
const (
	HUKHandle = tpm2.TPMHandle(0x81520001)
	IAKHandle = tpm2.TPMHandle(0x81520002)
)

// BootPCR is the PCR measured boot extends: PCR 23, the application PCR
// that software may reset, so a restarted simulated device starts again
// from zero as a real one does at power-on.
const BootPCR = 23

// ErrNotProvisioned: the TPM holds no Rampart keys (never provisioned,
// decommissioned, or another TPM than the one the state directory was
// made on).
var ErrNotProvisioned = errors.New("rot: the TPM holds no Rampart keys (not provisioned here, or decommissioned)")

// TPM is a connection to the TPM that holds the SPE's roots.
type TPM struct {
	t        transport.TPMCloser
	createMu sync.Mutex // GenerateECDSA: finding a free handle and taking it
}

// Open connects to the TPM spec names (see Scheme).
func Open(spec string) (*TPM, error) {
	t, err := dial(spec)
	if err != nil {
		return nil, err
	}
	return &TPM{t: t}, nil
}

// Close closes the connection; the keys stay in the TPM.
func (t *TPM) Close() error { return t.t.Close() }

// Provisioned says whether both Rampart keys are in the TPM.
func (t *TPM) Provisioned() bool {
	for _, h := range []tpm2.TPMHandle{HUKHandle, IAKHandle} {
		if _, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(t.t); err != nil {
			return false
		}
	}
	return true
}

// Provision creates the hardware unique key and the attestation key in
// the TPM and makes them persistent, replacing any left by an earlier,
// interrupted provisioning (so a power cut at any step leaves a device
// that can be provisioned again). It clears the PSA keys of the TPM
// location too: under a new HUK no sealed reference to them opens. The
// platform provisions with EnsureHUK and ProvisionIAK instead, which keep
// them. The caller refuses a device that is
// already provisioned (its lifecycle says so). It returns the attestation
// public key, for the endorsement.
func (t *TPM) Provision() (*ecdsa.PublicKey, error) {
	if err := t.Clear(); err != nil {
		return nil, err
	}
	if err := t.EnsureHUK(); err != nil {
		return nil, err
	}
	return t.ProvisionIAK()
}

// EnsureHUK creates the hardware unique key when the TPM has none (the
// SPE's first start), as the file root generates its huk file.
func (t *TPM) EnsureHUK() error {
	if _, err := (tpm2.ReadPublic{ObjectHandle: HUKHandle}).Execute(t.t); err == nil {
		return nil
	}
	return t.create(hukTemplate, HUKHandle, "hardware unique key")
}

// ProvisionIAK creates a new attestation key, replacing one an interrupted
// provisioning left, and returns its public half.
func (t *TPM) ProvisionIAK() (*ecdsa.PublicKey, error) {
	if err := t.evict(IAKHandle); err != nil {
		return nil, err
	}
	if err := t.create(iakTemplate, IAKHandle, "attestation key"); err != nil {
		return nil, err
	}
	return t.IAKPublic()
}

func (t *TPM) create(tmpl tpm2.TPMTPublic, h tpm2.TPMHandle, what string) error {
	srk, err := t.srk()
	if err != nil {
		return err
	}
	defer t.flush(srk.Handle)
	if err := t.createPersistent(srk, tmpl, h); err != nil {
		return fmt.Errorf("rot: %s: %w", what, err)
	}
	return nil
}

// Clear evicts Rampart's persistent objects, the PSA keys of the TPM
// location included: the keys are gone from the TPM, and nothing of them
// was ever on disk (crypto-shredding).
func (t *TPM) Clear() error {
	return errors.Join(t.clearPSAKeys(), t.evict(IAKHandle), t.evict(HUKHandle))
}

func (t *TPM) evict(h tpm2.TPMHandle) error {
	rp, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(t.t)
	if err != nil {
		return nil // absent
	}
	_, err = (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: h, Name: rp.Name}, PersistentHandle: h}).Execute(t.t)
	if err != nil {
		return fmt.Errorf("rot: evicting 0x%x: %w", uint32(h), err)
	}
	return nil
}

// srk creates the TPM's ECC storage root key (TCG template): the same key
// each time from the owner seed, so it need not be kept.
func (t *TPM) srk() (tpm2.AuthHandle, error) {
	rsp, err := (tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}).Execute(t.t)
	if err != nil {
		return tpm2.AuthHandle{}, fmt.Errorf("rot: storage root key: %w", err)
	}
	return tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, nil
}

func (t *TPM) flush(h tpm2.TPMHandle) { (tpm2.FlushContext{FlushHandle: h}).Execute(t.t) }

func (t *TPM) createPersistent(parent tpm2.AuthHandle, tmpl tpm2.TPMTPublic, h tpm2.TPMHandle) error {
	c, err := (tpm2.Create{ParentHandle: parent, InPublic: tpm2.New2B(tmpl)}).Execute(t.t)
	if err != nil {
		return err
	}
	l, err := (tpm2.Load{ParentHandle: parent, InPrivate: c.OutPrivate, InPublic: c.OutPublic}).Execute(t.t)
	if err != nil {
		return err
	}
	defer t.flush(l.ObjectHandle)
	_, err = (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: l.ObjectHandle, Name: l.Name}, PersistentHandle: h}).Execute(t.t)
	return err
}

// Key attributes: made inside this TPM, never duplicable, usable without
// a password by whoever reaches the TPM (the SPE's process alone on a
// device: /dev/tpmrm0 is root's), exempt from dictionary-attack lockout.
var keyAttributes = tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true, NoDA: true, SignEncrypt: true}

var hukTemplate = tpm2.TPMTPublic{
	Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: keyAttributes,
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
		Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgHMAC,
			Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256})}}),
}

var iakTemplate = tpm2.TPMTPublic{
	Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: keyAttributes,
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		CurveID: tpm2.TPMECCNistP256,
		Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})}}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
}

// Derive returns HMAC-SHA256(HUK, label), computed by the TPM: the SPE's
// sealing root is Derive("rampart huk v1"), the same on every start of
// this TPM and unobtainable from any other.
func (t *TPM) Derive(label string) ([]byte, error) {
	rp, err := (tpm2.ReadPublic{ObjectHandle: HUKHandle}).Execute(t.t)
	if err != nil {
		return nil, ErrNotProvisioned
	}
	rsp, err := (tpm2.Hmac{Handle: tpm2.AuthHandle{Handle: HUKHandle, Name: rp.Name, Auth: tpm2.PasswordAuth(nil)},
		Buffer: tpm2.TPM2BMaxBuffer{Buffer: []byte(label)}, HashAlg: tpm2.TPMAlgSHA256}).Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("rot: HMAC with the hardware unique key: %w", err)
	}
	return rsp.OutHMAC.Buffer, nil
}

// IAKPublic returns the attestation key's public half.
func (t *TPM) IAKPublic() (*ecdsa.PublicKey, error) {
	if _, err := (tpm2.ReadPublic{ObjectHandle: IAKHandle}).Execute(t.t); err != nil {
		return nil, ErrNotProvisioned
	}
	return t.ecdsaPublic(IAKHandle)
}

// ecdsaPublic reads the public half of the ECC key at h.
func (t *TPM) ecdsaPublic(h tpm2.TPMHandle) (*ecdsa.PublicKey, error) {
	rp, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("rot: key 0x%x: %w", uint32(h), err)
	}
	pub, err := rp.OutPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("rot: key 0x%x: %w", uint32(h), err)
	}
	k, err := tpm2.Pub(*pub)
	if err != nil {
		return nil, fmt.Errorf("rot: key 0x%x: %w", uint32(h), err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("rot: key 0x%x is %T", uint32(h), k)
	}
	return ek, nil
}

// IAK returns the attestation key as a crypto.Signer whose signatures the
// TPM makes (ECDSA P-256 over SHA-256 digests).
func (t *TPM) IAK() (*IAK, error) {
	pub, err := t.IAKPublic()
	if err != nil {
		return nil, err
	}
	rp, err := (tpm2.ReadPublic{ObjectHandle: IAKHandle}).Execute(t.t)
	if err != nil {
		return nil, ErrNotProvisioned
	}
	return &IAK{t: t, pub: pub, name: rp.Name}, nil
}

// IAK is the TPM-resident attestation key.
type IAK struct {
	t    *TPM
	pub  *ecdsa.PublicKey
	name tpm2.TPM2BName
}

// Public returns the key's public half.
func (k *IAK) Public() crypto.PublicKey { return k.pub }

// Sign has the TPM sign a SHA-256 digest; the signature is ASN.1 DER as
// Go's ECDSA keys return it.
func (k *IAK) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("rot: the attestation key signs SHA-256 digests (got %d bytes)", len(digest))
	}
	return k.t.signECDSA(tpm2.AuthHandle{Handle: IAKHandle, Name: k.name, Auth: tpm2.PasswordAuth(nil)}, tpm2.TPMAlgSHA256, digest)
}

// signECDSA has the TPM sign digest (of hash alg) with key; the signature
// is ASN.1 DER as Go's ECDSA keys return it.
func (t *TPM) signECDSA(key tpm2.AuthHandle, alg tpm2.TPMAlgID, digest []byte) ([]byte, error) {
	rsp, err := (tpm2.Sign{
		KeyHandle: key,
		Digest:    tpm2.TPM2BDigest{Buffer: digest},
		InScheme: tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: alg})},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}).Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("rot: TPM2_Sign: %w", err)
	}
	sig, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, fmt.Errorf("rot: TPM2_Sign: %w", err)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig.SignatureR.Buffer), new(big.Int).SetBytes(sig.SignatureS.Buffer)})
}
