package psa

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// hashes pairs each PSA hash algorithm Rampart supports with its Go hash:
// the one table both directions of the mapping read.
var hashes = [...]struct {
	alg Algorithm
	h   crypto.Hash
}{
	{AlgSHA1, crypto.SHA1},
	{AlgSHA224, crypto.SHA224},
	{AlgSHA256, crypto.SHA256},
	{AlgSHA384, crypto.SHA384},
	{AlgSHA512, crypto.SHA512},
}

// HashAlgorithm maps a crypto.Hash to its PSA algorithm.
func HashAlgorithm(h crypto.Hash) (Algorithm, error) {
	for _, e := range hashes {
		if e.h == h {
			return e.alg, nil
		}
	}
	return 0, fmt.Errorf("psa: hash %v: %w", h, ErrNotSupported)
}

// CryptoHash returns the Go hash of a PSA hash algorithm, or 0 for any other
// algorithm (including AlgAnyHash).
func (a Algorithm) CryptoHash() crypto.Hash {
	for _, e := range hashes {
		if e.alg == a {
			return e.h
		}
	}
	return 0
}

// ParsePublicKey decodes a public key in the PSA export format of t (or of
// its key pair type): an uncompressed point for SECP R1 curves (P-256,
// P-384), 32 bytes for X25519 and Ed25519, a DER RSAPublicKey for RSA. It
// returns *ecdsa.PublicKey, *ecdh.PublicKey, ed25519.PublicKey (a copy of
// data) or *rsa.PublicKey.
func ParsePublicKey(t KeyType, data []byte) (crypto.PublicKey, error) {
	t = t.PublicKeyType()
	switch {
	case t == KeyTypeRSAPublicKey:
		k, err := x509.ParsePKCS1PublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("psa: RSA public key: %w", err)
		}
		return k, nil
	case t == KeyTypeECCPublicKey(ECCFamilySECPR1):
		var c elliptic.Curve
		switch len(data) {
		case 65:
			c = elliptic.P256()
		case 97:
			c = elliptic.P384()
		default:
			return nil, fmt.Errorf("psa: ECC public key of %d bytes: %w", len(data), ErrInvalidArgument)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(c, data)
		if err != nil {
			return nil, fmt.Errorf("psa: ECC public key: %w", err)
		}
		return k, nil
	case t == KeyTypeECCPublicKey(ECCFamilyTwistedEdwards):
		if len(data) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("psa: Ed25519 public key of %d bytes: %w", len(data), ErrInvalidArgument)
		}
		return ed25519.PublicKey(append([]byte(nil), data...)), nil
	case t == KeyTypeECCPublicKey(ECCFamilyMontgomery):
		k, err := ecdh.X25519().NewPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("psa: X25519 public key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("psa: public key of type 0x%04x: %w", t, ErrNotSupported)
}

// ECDSASignatureToASN1 converts a PSA ECDSA signature (r || s) to the DER
// SEQUENCE { r INTEGER, s INTEGER } used by X.509 and TLS.
func ECDSASignatureToASN1(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("psa: ECDSA signature of %d bytes: %w", len(raw), ErrInvalidArgument)
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// ErrBadDER is returned for an ECDSA signature that is not strict DER.
var ErrBadDER = errors.New("psa: ECDSA signature is not strict DER")

// ECDSASignatureFromASN1 converts a strict-DER ECDSA signature to the PSA
// form r || s with each half size bytes long. Non-minimal encodings,
// negative or oversized integers and trailing bytes are refused. The SPE
// converts what crypto/ecdsa signs with it, so it allocates only the result.
func ECDSASignatureFromASN1(der []byte, size int) ([]byte, error) {
	var seq cryptobyte.String
	var r, s []byte
	in := cryptobyte.String(der)
	// ReadASN1Integer into a []byte refuses negative and non-minimal
	// integers and strips the sign byte, leaving at least one byte.
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, ErrBadDER
	}
	r, s = trimZero(r), trimZero(s)
	if len(r) > size || len(s) > size {
		return nil, ErrBadDER
	}
	out := make([]byte, 2*size)
	copy(out[size-len(r):size], r)
	copy(out[2*size-len(s):], s)
	return out, nil
}

// trimZero drops the lone zero byte of an integer whose value is 0.
func trimZero(b []byte) []byte {
	if len(b) == 1 && b[0] == 0 {
		return nil
	}
	return b
}
