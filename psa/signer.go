package psa

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Signer is a crypto.Signer whose private key lives in the SPE: Sign sends
// the digest to the SPE and only the signature comes back. It works with
// crypto/tls (tls.Certificate{PrivateKey: signer}) and crypto/x509.
type Signer struct {
	c    *Client
	id   KeyID
	attr KeyAttributes
	pub  crypto.PublicKey
}

// NewSigner returns a Signer for the key pair id (ECDSA P-256/P-384, RSA or
// Ed25519). The key needs UsageSignHash (UsageSignMessage for Ed25519) and a
// permitted algorithm matching what callers will ask for, e.g.
// AlgECDSA(AlgAnyHash) for TLS.
func NewSigner(c *Client, id KeyID) (*Signer, error) {
	attr, err := c.KeyAttributes(id)
	if err != nil {
		return nil, err
	}
	raw, err := c.ExportPublicKey(id)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(attr.Type, raw)
	if err != nil {
		return nil, err
	}
	return &Signer{c: c, id: id, attr: attr, pub: pub}, nil
}

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// KeyID returns the SPE key ID.
func (s *Signer) KeyID() KeyID { return s.id }

// HashAlgorithm maps a crypto.Hash to its PSA algorithm.
func HashAlgorithm(h crypto.Hash) (Algorithm, error) {
	switch h {
	case crypto.SHA1:
		return AlgSHA1, nil
	case crypto.SHA224:
		return AlgSHA224, nil
	case crypto.SHA256:
		return AlgSHA256, nil
	case crypto.SHA384:
		return AlgSHA384, nil
	case crypto.SHA512:
		return AlgSHA512, nil
	}
	return 0, fmt.Errorf("psa: hash %v: %w", h, ErrNotSupported)
}

// Sign signs digest (or, for Ed25519, the whole message) in the SPE. rand is
// ignored: the SPE uses its own entropy.
//
// opts may be nil, as go-cose passes it: crypto.Signer leaves the hash to
// the key then, so digest is taken as hashed with the key's own hash
// (signHash). Where that is not known (an RSA key allowed any hash) Sign
// refuses with an error; it never panics.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch s.pub.(type) {
	case ed25519.PublicKey:
		if opts != nil && opts.HashFunc() != 0 {
			return nil, fmt.Errorf("psa: signer: Ed25519 with a pre-hash: %w", ErrNotSupported)
		}
		return s.c.SignMessage(s.id, AlgPureEdDSA, digest)
	case *ecdsa.PublicKey:
		h, err := s.signHash(opts, digest)
		if err != nil {
			return nil, err
		}
		raw, err := s.c.SignHash(s.id, AlgECDSA(h), digest)
		if err != nil {
			return nil, err
		}
		return ECDSASignatureToASN1(raw)
	case *rsa.PublicKey:
		h, err := s.signHash(opts, digest)
		if err != nil {
			return nil, err
		}
		alg := AlgRSAPKCS1v15Sign(h)
		pss, isPSS := opts.(*rsa.PSSOptions)
		if opts == nil {
			b := s.attr.Algorithm.Base() // the key's own scheme
			isPSS = b == AlgRSAPSS(0) || b == AlgRSAPSSAnySalt(0)
		}
		if isPSS {
			if pss != nil && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != opts.HashFunc().Size() {
				return nil, fmt.Errorf("psa: signer: PSS salt length %d: %w", pss.SaltLength, ErrNotSupported)
			}
			alg = AlgRSAPSS(h)
		}
		return s.c.SignHash(s.id, alg, digest)
	}
	return nil, fmt.Errorf("psa: signer: key type 0x%04x: %w", s.attr.Type, ErrNotSupported)
}

// signHash returns the PSA hash digest was made with: opts' hash, or with
// nil opts the key's: the hash its policy names, else for an ECDSA key
// allowed any hash the one its curve pairs with (P-256 SHA-256, P-384
// SHA-384). digest must then be as long as that hash.
func (s *Signer) signHash(opts crypto.SignerOpts, digest []byte) (Algorithm, error) {
	if opts != nil {
		return HashAlgorithm(opts.HashFunc())
	}
	h := s.attr.Algorithm.Hash()
	if h == AlgNone || h == AlgAnyHash {
		h = AlgNone
		if k, ok := s.pub.(*ecdsa.PublicKey); ok {
			switch k.Curve {
			case elliptic.P256():
				h = AlgSHA256
			case elliptic.P384():
				h = AlgSHA384
			}
		}
	}
	if h == AlgNone {
		return 0, fmt.Errorf("psa: signer: no hash given and the key (algorithm 0x%08x) names none: %w", s.attr.Algorithm, ErrInvalidArgument)
	}
	if n := hashSize(h); len(digest) != n {
		return 0, fmt.Errorf("psa: signer: no hash given: a digest of %d bytes is not the key's hash (%d bytes): %w", len(digest), n, ErrInvalidArgument)
	}
	return h, nil
}

// hashSize is the output length of a PSA hash algorithm (0 if unknown).
func hashSize(h Algorithm) int {
	switch h {
	case AlgSHA1:
		return crypto.SHA1.Size()
	case AlgSHA224:
		return crypto.SHA224.Size()
	case AlgSHA256:
		return crypto.SHA256.Size()
	case AlgSHA384:
		return crypto.SHA384.Size()
	case AlgSHA512:
		return crypto.SHA512.Size()
	}
	return 0
}

// ParsePublicKey decodes a public key in the PSA export format of t (or of
// its key pair type): an uncompressed point for SECP R1 curves, 32 bytes for
// X25519 and Ed25519, a DER RSAPublicKey for RSA.
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

// ECDSASignatureFromASN1 converts a strict-DER ECDSA signature to r || s
// with each half size bytes long. Non-minimal encodings, negative or
// oversized integers and trailing bytes are refused.
func ECDSASignatureFromASN1(der []byte, size int) ([]byte, error) {
	var seq cryptobyte.String
	in := cryptobyte.String(der)
	r, s := new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return nil, ErrBadDER
	}
	if r.Sign() < 0 || s.Sign() < 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, ErrBadDER
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}
