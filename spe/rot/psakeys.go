package rot

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// The persistent handles PSA keys of the TPM location take: a range of
// their own beside HUKHandle and IAKHandle, so that Clear finds them all.
const (
	PSAKeyFirst = tpm2.TPMHandle(0x81520100)
	PSAKeyLast  = tpm2.TPMHandle(0x815201ff)
)

// ErrNoFreeHandle: every handle of the PSA key range is taken.
var ErrNoFreeHandle error = fullError{errors.New("rot: no free persistent handle for a PSA key")}

// fullError is a TPM without room for another key (no free handle, or its
// NV memory is full: swtpm holds about 65 keys, a PC-client TPM may hold
// as few as 7 persistent objects). Full lets the SPE answer
// PSA_ERROR_INSUFFICIENT_STORAGE without knowing the TPM's errors.
type fullError struct{ error }

func (fullError) Full() bool      { return true }
func (e fullError) Unwrap() error { return e.error }

// GenerateECDSA creates a persistent, non-exportable ECDSA key pair of
// bits (256 or 384) in the TPM at a free handle of the PSA key range and
// returns the handle and the public key. The key's template names no
// scheme, so each signature names its hash (the SPE checks the key's PSA
// policy before asking).
func (t *TPM) GenerateECDSA(bits int) (uint32, *ecdsa.PublicKey, error) {
	curve := map[int]tpm2.TPMECCCurve{256: tpm2.TPMECCNistP256, 384: tpm2.TPMECCNistP384}[bits]
	if curve == 0 {
		return 0, nil, fmt.Errorf("rot: no ECDSA key of %d bits", bits)
	}
	t.createMu.Lock() // one handle search and creation at a time
	defer t.createMu.Unlock()
	h, err := t.freePSAHandle()
	if err != nil {
		return 0, nil, err
	}
	if err := t.create(psaKeyTemplate(curve), h, "PSA key"); err != nil {
		if errors.Is(err, tpm2.TPMRCNVSpace) || errors.Is(err, tpm2.TPMRCObjectMemory) {
			return 0, nil, fullError{err}
		}
		return 0, nil, err
	}
	pub, err := t.ecdsaPublic(h)
	if err != nil {
		t.evict(h)
		return 0, nil, err
	}
	return uint32(h), pub, nil
}

// SignECDSA has the TPM sign digest, a hash of kind h, with the PSA key
// at handle; the signature is ASN.1 DER.
func (t *TPM) SignECDSA(handle uint32, h crypto.Hash, digest []byte) ([]byte, error) {
	hk, err := psaHandle(handle)
	if err != nil {
		return nil, err
	}
	alg, ok := map[crypto.Hash]tpm2.TPMAlgID{crypto.SHA256: tpm2.TPMAlgSHA256, crypto.SHA384: tpm2.TPMAlgSHA384, crypto.SHA512: tpm2.TPMAlgSHA512}[h]
	if !ok || len(digest) != h.Size() {
		return nil, fmt.Errorf("rot: the TPM signs SHA-256, SHA-384 or SHA-512 digests, not %v of %d bytes", h, len(digest))
	}
	rp, err := (tpm2.ReadPublic{ObjectHandle: hk}).Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("rot: PSA key 0x%x: %w", handle, err)
	}
	return t.signECDSA(tpm2.AuthHandle{Handle: hk, Name: rp.Name, Auth: tpm2.PasswordAuth(nil)}, alg, digest)
}

// DestroyKey evicts the PSA key at handle if it is the key pub: nothing
// when the handle is empty or holds another key (a stale or copied
// reference must not destroy the key that now has the handle).
func (t *TPM) DestroyKey(handle uint32, pub *ecdsa.PublicKey) error {
	hk, err := psaHandle(handle)
	if err != nil {
		return err
	}
	if _, err := (tpm2.ReadPublic{ObjectHandle: hk}).Execute(t.t); err != nil {
		return nil // absent
	}
	cur, err := t.ecdsaPublic(hk)
	if err != nil {
		return err
	}
	if !cur.Equal(pub) {
		return nil
	}
	return t.evict(hk)
}

// PersistentHandles lists the TPM's persistent objects in Rampart's range
// (the HUK, the IAK and PSA keys), as tpm2_getcap handles-persistent does.
func (t *TPM) PersistentHandles() ([]uint32, error) {
	var out []uint32
	next := uint32(HUKHandle)
	for {
		rsp, err := (tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: next, PropertyCount: 64}).Execute(t.t)
		if err != nil {
			return nil, fmt.Errorf("rot: listing handles: %w", err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, fmt.Errorf("rot: listing handles: %w", err)
		}
		for _, h := range hs.Handle {
			if h > PSAKeyLast {
				return out, nil
			}
			out = append(out, uint32(h))
			next = uint32(h) + 1
		}
		if !rsp.MoreData || len(hs.Handle) == 0 {
			return out, nil
		}
	}
}

// KeyHandles lists the PSA keys' handles.
func (t *TPM) KeyHandles() ([]uint32, error) {
	all, err := t.PersistentHandles()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, h := range all {
		if _, err := psaHandle(h); err == nil {
			out = append(out, h)
		}
	}
	return out, nil
}

// PublicKey reads the public key of the PSA key at handle.
func (t *TPM) PublicKey(handle uint32) (*ecdsa.PublicKey, error) {
	hk, err := psaHandle(handle)
	if err != nil {
		return nil, err
	}
	return t.ecdsaPublic(hk)
}

func (t *TPM) freePSAHandle() (tpm2.TPMHandle, error) {
	used, err := t.PersistentHandles()
	if err != nil {
		return 0, err
	}
	taken := map[uint32]bool{}
	for _, h := range used {
		taken[h] = true
	}
	for h := PSAKeyFirst; h <= PSAKeyLast; h++ {
		if !taken[uint32(h)] {
			return h, nil
		}
	}
	return 0, ErrNoFreeHandle
}

// clearPSAKeys evicts every PSA key.
func (t *TPM) clearPSAKeys() error {
	keys, err := t.KeyHandles()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range keys {
		errs = append(errs, t.evict(tpm2.TPMHandle(h)))
	}
	return errors.Join(errs...)
}

func psaHandle(h uint32) (tpm2.TPMHandle, error) {
	if h < uint32(PSAKeyFirst) || h > uint32(PSAKeyLast) {
		return 0, fmt.Errorf("rot: 0x%x is not a PSA key handle", h)
	}
	return tpm2.TPMHandle(h), nil
}

func psaKeyTemplate(curve tpm2.TPMECCCurve) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: keyAttributes,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: curve, Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull}}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}
