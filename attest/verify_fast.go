package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"sync/atomic"
)

// keyInstanceID is the instance ID of one key, with a private copy of the
// key it was computed from.
type keyInstanceID struct {
	pub *ecdsa.PublicKey
	id  []byte
}

// lastKeyID remembers the instance ID of the last key [Verify] was given
// with [VerifyOptions.Key]: a verifier checks many tokens of one device
// (or one key in a test or a benchmark), and computing the ID encodes and
// validates the point (PublicKey.Bytes) and hashes it, about 2% of a P-256
// verification.
var lastKeyID atomic.Pointer[keyInstanceID]

// instanceIDOfKey is [InstanceID](key), taken from lastKeyID when key
// equals the remembered key. The comparison is by value against the
// cache's own copy of the key, so a caller that changes its key's
// coordinates afterwards gets the new key's ID, never a stale one.
func instanceIDOfKey(key crypto.PublicKey) ([]byte, error) {
	if c := lastKeyID.Load(); c != nil && c.pub.Equal(key) {
		return c.id, nil
	}
	id, err := InstanceID(key)
	if err != nil {
		return nil, err
	}
	pub := key.(*ecdsa.PublicKey) // InstanceID accepted it
	point, err := pub.Bytes()
	if err != nil {
		return nil, err
	}
	own, err := ecdsa.ParseUncompressedPublicKey(pub.Curve, point)
	if err != nil {
		return nil, err
	}
	lastKeyID.Store(&keyInstanceID{pub: own, id: bytes.Clone(id)})
	return id, nil
}

// sigStructureMax bounds the Sig_structure digest builds on the stack;
// longer ones (large software-component lists) are hashed piece by piece.
const sigStructureMax = 1024

// digestES256 is the SHA-256 of the COSE Sig_structure
// ["Signature1", protected, empty external_aad, payload] (RFC 9052 4.4) written into one
// stack buffer and hashed in one call, without the hash.Hash allocation of
// the general path; ok is false when it does not fit.
func (e *envelope) digestES256(out *[sha256.Size]byte) (ok bool) {
	var buf [sigStructureMax]byte
	n := 1 + 11 + 9 + len(e.protected) + 1 + 9 + len(e.payload)
	if n > len(buf) {
		return false
	}
	b := append(buf[:0], "\x84\x6aSignature1"...)
	b = bstrHead(b, len(e.protected))
	b = append(b, e.protected...)
	b = append(b, 0x40) // external_aad: empty
	b = bstrHead(b, len(e.payload))
	b = append(b, e.payload...)
	*out = sha256.Sum256(b)
	return true
}
