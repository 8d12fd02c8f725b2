package crypto

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// KeyVault is the hardware that holds the keys of location
// psa.LocationRampartTPM: the SPE's TPM (spe/rot.TPM implements it). Its
// keys are made inside it and never leave it; the SPE keeps a key's
// handle, its public key and its PSA attributes, sealed like any key, and
// checks the PSA policy before it asks the vault for anything.
type KeyVault interface {
	// GenerateECDSA makes a persistent ECDSA key pair of bits (256, 384).
	// An error with a method Full() bool that returns true means the vault
	// has no room for another key.
	GenerateECDSA(bits int) (handle uint32, pub *ecdsa.PublicKey, err error)
	// SignECDSA signs digest (a hash of kind h) with the key at handle:
	// ASN.1 DER.
	SignECDSA(handle uint32, h crypto.Hash, digest []byte) ([]byte, error)
	// DestroyKey removes the key at handle if it is the key pub; an empty
	// handle or another key there is no error (and that key stays).
	DestroyKey(handle uint32, pub *ecdsa.PublicKey) error
	// KeyHandles lists the handles of every key the vault holds for the
	// SPE, and PublicKey reads one's public key.
	KeyHandles() ([]uint32, error)
	PublicKey(handle uint32) (*ecdsa.PublicKey, error)
}

// sweepVault destroys, at start, the vault's keys that no sealed key file
// names: a power cut between the vault making a key and the store sealing
// its reference leaves one, which nothing could ever use or destroy and
// which takes room in the TPM's scarce NV memory. One SPE per TPM (the
// handle range is the SPE's), so every key there is this store's. When a
// sealed file does not open (a state directory from another device, a
// damaged file) it is not sure which keys are named, and nothing is
// destroyed.
func (s *store) sweepVault() error {
	if s.vault == nil || s.dir == "" {
		return nil
	}
	handles, err := s.vault.KeyHandles()
	if err != nil {
		return fmt.Errorf("crypto: listing the TPM's keys: %w", err)
	}
	if len(handles) == 0 {
		return nil
	}
	named := map[uint32]bool{}
	for _, r := range s.storedRefs() {
		sl, st := s.load(r)
		if st != ipc.Success {
			return nil
		}
		if inVault(sl.attr) {
			named[sl.vaultHandle] = true
		}
	}
	for _, h := range handles {
		if named[h] {
			continue
		}
		pub, err := s.vault.PublicKey(h)
		if err == nil {
			err = s.vault.DestroyKey(h, pub)
		}
		if err != nil {
			return fmt.Errorf("crypto: destroying the TPM key 0x%x no sealed key names: %w", h, err)
		}
	}
	return nil
}

// vaultRefMagic starts a vault key's stored form (the slot's material): the
// handle, then the public key in the PSA export format. Nothing secret.
const vaultRefMagic = "TPM1"

// inVault reports whether a key of these attributes lives in the vault.
func inVault(a psa.KeyAttributes) bool { return a.Lifetime.Location() == psa.LocationRampartTPM }

// checkVaultAttributes refuses what a vault key cannot be: anything but a
// persistent SECP R1 key pair of 256 or 384 bits, or a policy naming an
// algorithm the TPM does not compute (deterministic ECDSA, ECDH).
func checkVaultAttributes(a psa.KeyAttributes) ipc.Status {
	if a.Type != typeSECPPair || (a.Bits != 256 && a.Bits != 384) {
		return ipc.ErrNotSupported
	}
	switch alg := a.Algorithm; {
	case alg == psa.AlgNone:
	case alg&^0xff == psa.AlgECDSA(0) && (alg&0xff == 0xff || vaultHash(alg.Hash().CryptoHash())):
	default:
		return ipc.ErrNotSupported
	}
	return ipc.Success
}

// vaultHash reports whether the vault signs digests of hash h.
func vaultHash(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

// generateInVault creates a key of the vault location: the vault makes it,
// the store seals its reference. A key the store then refuses (quota,
// an ID in use) is destroyed in the vault again.
func (s *Service) generateInVault(client int32, session uint64, attr psa.KeyAttributes) (psa.KeyID, ipc.Status) {
	if s.keys.vault == nil {
		return 0, ipc.ErrNotSupported // PSA: a location the implementation does not support
	}
	if st := checkVaultAttributes(attr); st != ipc.Success {
		return 0, st
	}
	handle, pub, err := s.keys.vault.GenerateECDSA(attr.Bits)
	if err != nil {
		var full interface{ Full() bool }
		if errors.As(err, &full) && full.Full() {
			return 0, ipc.ErrInsufficientStorage
		}
		return 0, ipc.ErrHardwareFailure
	}
	sl, st := newVaultSlot(attr, vaultRef(handle, pub))
	if st != ipc.Success {
		s.keys.vault.DestroyKey(handle, pub)
		return 0, st
	}
	id, st := s.keys.put(client, session, sl)
	if st != ipc.Success {
		s.keys.vault.DestroyKey(handle, pub)
		return 0, st
	}
	return id, ipc.Success
}

func vaultRef(handle uint32, pub *ecdsa.PublicKey) []byte {
	b := binary.BigEndian.AppendUint32([]byte(vaultRefMagic), handle)
	p, _ := pub.Bytes()
	return append(b, p...)
}

// newVaultSlot builds the slot of a vault key from its stored reference.
func newVaultSlot(attr psa.KeyAttributes, ref []byte) (*slot, ipc.Status) {
	if len(ref) < 8 || string(ref[:4]) != vaultRefMagic {
		return nil, ipc.ErrDataInvalid
	}
	curve, _ := secpCurve(attr.Bits / 8)
	if curve == nil {
		return nil, ipc.ErrDataInvalid
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, ref[8:])
	if err != nil {
		return nil, ipc.ErrDataInvalid
	}
	return &slot{attr: attr, material: append([]byte(nil), ref...), vaultHandle: binary.BigEndian.Uint32(ref[4:8]), ecdsaP: pub}, ipc.Success
}

// signInVault has the vault sign digest and checks the signature against
// the sealed public key before returning it: a key swapped at the handle
// (by whoever reached the TPM) or a faulty TPM gives no signature.
func (s *Service) signInVault(sl *slot, alg psa.Algorithm, digest []byte) ([]byte, ipc.Status) {
	if s.keys.vault == nil {
		return nil, ipc.ErrBadState // a vault key, and the SPE opened without its TPM
	}
	if alg&^0xff != psa.AlgECDSA(0) {
		return nil, ipc.ErrNotSupported // deterministic ECDSA: the TPM draws its own nonce
	}
	h := alg.Hash().CryptoHash()
	if !vaultHash(h) {
		return nil, ipc.ErrNotSupported
	}
	der, err := s.keys.vault.SignECDSA(sl.vaultHandle, h, digest)
	if err != nil {
		return nil, ipc.ErrHardwareFailure
	}
	if !ecdsa.VerifyASN1(sl.ecdsaP, digest, der) {
		return nil, ipc.ErrCorruptionDetected
	}
	raw, err := psa.ECDSASignatureFromASN1(der, (sl.attr.Bits+7)/8)
	if err != nil {
		return nil, ipc.ErrGenericError
	}
	return raw, ipc.Success
}
