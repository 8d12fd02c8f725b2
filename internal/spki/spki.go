// Package spki encodes a public key as its DER SubjectPublicKeyInfo, the
// bytes x509.MarshalPKIXPublicKey returns, fast for the ECDSA keys every
// enrollment carries. Both the enrollment protocol (the token binding) and
// the fleet CA (the device certificate) need it.
//
// It must never return bytes that differ from MarshalPKIXPublicKey's for
// the same key (TestMatchesX509 compares them), and imports no rampart
// package.
package spki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
)

// Marshal returns the DER SubjectPublicKeyInfo of pub, the bytes
// x509.MarshalPKIXPublicKey returns. Every enrollment needs it twice (the
// token binding and the certificate) for a P-256 key, and the encoding of
// an ECDSA key on a named curve is a fixed prefix and the uncompressed
// point, which costs a sixth of MarshalPKIXPublicKey's reflection;
// other keys go through MarshalPKIXPublicKey. TestMatchesX509 compares the
// two.
func Marshal(pub crypto.PublicKey) ([]byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return x509.MarshalPKIXPublicKey(pub)
	}
	var prefix []byte
	switch k.Curve {
	case elliptic.P256():
		prefix = spkiP256
	case elliptic.P384():
		prefix = spkiP384
	default:
		return x509.MarshalPKIXPublicKey(pub)
	}
	point, err := k.Bytes() // uncompressed; an error for an invalid point
	if err != nil {
		return x509.MarshalPKIXPublicKey(pub) // its error, for the same input
	}
	return append(append(make([]byte, 0, len(prefix)+len(point)), prefix...), point...), nil
}

// The DER before the point: SEQUENCE { SEQUENCE { id-ecPublicKey, curve
// OID }, BIT STRING header with 0 unused bits }.
var (
	spkiP256 = []byte{0x30, 0x59, 0x30, 0x13,
		0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // 1.2.840.10045.2.1
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
		0x03, 0x42, 0x00}
	spkiP384 = []byte{0x30, 0x76, 0x30, 0x10,
		0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // 1.2.840.10045.2.1
		0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, // secp384r1
		0x03, 0x62, 0x00}
)
