package hsm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// keyKind is the kind of signing key found in a token.
type keyKind int

const (
	kindP256 keyKind = iota + 1
	kindP384
	kindEd25519
	kindRSA
)

func (k keyKind) String() string {
	return map[keyKind]string{kindP256: "ECDSA P-256", kindP384: "ECDSA P-384", kindEd25519: "Ed25519", kindRSA: "RSA"}[k]
}

// CKA_EC_PARAMS values: the named curve's OID, DER; Ed25519 also as the
// PrintableString "edwards25519" some tokens (SoftHSM2 among them) accept.
var (
	oidP256        = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidP384        = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	oidEd25519     = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	printedEd25519 = append([]byte{0x13, 0x0c}, "edwards25519"...)
)

// ecKind classifies CKA_EC_PARAMS.
func ecKind(params []byte) (keyKind, error) {
	switch {
	case bytes.Equal(params, oidP256):
		return kindP256, nil
	case bytes.Equal(params, oidP384):
		return kindP384, nil
	case bytes.Equal(params, oidEd25519), bytes.Equal(params, printedEd25519):
		return kindEd25519, nil
	}
	return 0, fmt.Errorf("%w: elliptic curve with parameters %x (P-256, P-384 and Ed25519 are supported)", ErrKeyType, params)
}

// ecPoint unwraps CKA_EC_POINT: a DER OCTET STRING holding the point (the
// standard form), or the bare point some tokens return.
func ecPoint(b []byte, size int) ([]byte, error) {
	if len(b) == size {
		return b, nil
	}
	var inner []byte
	rest, err := asn1.Unmarshal(b, &inner)
	if err != nil || len(rest) != 0 || len(inner) != size {
		return nil, fmt.Errorf("%w: CKA_EC_POINT of %d bytes is not a %d-byte point", ErrKeyType, len(b), size)
	}
	return inner, nil
}

// publicFromEC builds the public key from CKA_EC_PARAMS and CKA_EC_POINT.
func publicFromEC(params, point []byte) (keyKind, crypto.PublicKey, error) {
	kind, err := ecKind(params)
	if err != nil {
		return 0, nil, err
	}
	switch kind {
	case kindEd25519:
		p, err := ecPoint(point, ed25519.PublicKeySize)
		if err != nil {
			return 0, nil, err
		}
		return kind, ed25519.PublicKey(bytes.Clone(p)), nil
	}
	curve := elliptic.P256()
	if kind == kindP384 {
		curve = elliptic.P384()
	}
	size := (curve.Params().BitSize + 7) / 8
	p, err := ecPoint(point, 1+2*size)
	if err != nil {
		return 0, nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, p)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: CKA_EC_POINT: %w", ErrKeyType, err)
	}
	return kind, pub, nil
}

func publicFromRSA(modulus, exponent []byte) (crypto.PublicKey, error) {
	e := new(big.Int).SetBytes(exponent)
	n := new(big.Int).SetBytes(modulus)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || n.BitLen() < 2048 {
		return nil, fmt.Errorf("%w: RSA key of %d bits, exponent %s (2048 bits or more)", ErrKeyType, n.BitLen(), e)
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// ecdsaDER turns PKCS#11's r||s into the ASN.1 form Go's ECDSA keys return.
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("hsm: ECDSA signature of %d bytes from the token", len(raw))
	}
	h := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:h]), new(big.Int).SetBytes(raw[h:])})
}

// digestInfo prefixes of PKCS#1 v1.5 signatures (RFC 8017, 9.2 note 1).
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// checkDigest refuses a digest whose length is not the hash's.
func checkDigest(h crypto.Hash, digest []byte) error {
	if !h.Available() || h.Size() != len(digest) {
		return fmt.Errorf("hsm: sign: a %d-byte digest with hash %v", len(digest), h)
	}
	return nil
}

// samePublic compares two public keys of the kinds this package reads.
func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
