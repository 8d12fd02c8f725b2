package psaclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"

	"rampart/psa"
)

// Signer is a crypto.Signer whose private key lives in the SPE: Sign sends
// the digest to the SPE and only the signature comes back. It works with
// crypto/tls (tls.Certificate{PrivateKey: signer}) and crypto/x509.
type Signer struct {
	c    *Client
	id   psa.KeyID
	attr psa.KeyAttributes
	pub  crypto.PublicKey
}

// NewSigner returns a Signer for the key pair id (ECDSA P-256/P-384, RSA or
// Ed25519). The key needs UsageSignHash (UsageSignMessage for Ed25519) and a
// permitted algorithm matching what callers will ask for, e.g.
// psa.AlgECDSA(psa.AlgAnyHash) for TLS.
func NewSigner(c *Client, id psa.KeyID) (*Signer, error) {
	attr, err := c.KeyAttributes(id)
	if err != nil {
		return nil, err
	}
	raw, err := c.ExportPublicKey(id)
	if err != nil {
		return nil, err
	}
	pub, err := psa.ParsePublicKey(attr.Type, raw)
	if err != nil {
		return nil, err
	}
	return &Signer{c: c, id: id, attr: attr, pub: pub}, nil
}

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// KeyID returns the SPE key ID.
func (s *Signer) KeyID() psa.KeyID { return s.id }

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
			return nil, fmt.Errorf("psaclient: signer: Ed25519 with a pre-hash: %w", psa.ErrNotSupported)
		}
		return s.c.SignMessage(s.id, psa.AlgPureEdDSA, digest)
	case *ecdsa.PublicKey:
		h, err := s.signHash(opts, digest)
		if err != nil {
			return nil, err
		}
		raw, err := s.c.SignHash(s.id, psa.AlgECDSA(h), digest)
		if err != nil {
			return nil, err
		}
		return psa.ECDSASignatureToASN1(raw)
	case *rsa.PublicKey:
		h, err := s.signHash(opts, digest)
		if err != nil {
			return nil, err
		}
		alg := psa.AlgRSAPKCS1v15Sign(h)
		pss, isPSS := opts.(*rsa.PSSOptions)
		if opts == nil {
			b := s.attr.Algorithm.Base() // the key's own scheme
			isPSS = b == psa.AlgRSAPSS(0) || b == psa.AlgRSAPSSAnySalt(0)
		}
		if isPSS {
			if pss != nil && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != opts.HashFunc().Size() {
				return nil, fmt.Errorf("psaclient: signer: PSS salt length %d: %w", pss.SaltLength, psa.ErrNotSupported)
			}
			alg = psa.AlgRSAPSS(h)
		}
		return s.c.SignHash(s.id, alg, digest)
	}
	return nil, fmt.Errorf("psaclient: signer: key type 0x%04x: %w", s.attr.Type, psa.ErrNotSupported)
}

// signHash returns the PSA hash digest was made with: opts' hash, or with
// nil opts the key's: the hash its policy names, else for an ECDSA key
// allowed any hash the one its curve pairs with (P-256 SHA-256, P-384
// SHA-384). digest must then be as long as that hash.
func (s *Signer) signHash(opts crypto.SignerOpts, digest []byte) (psa.Algorithm, error) {
	if opts != nil {
		return psa.HashAlgorithm(opts.HashFunc())
	}
	h := s.attr.Algorithm.Hash()
	if h == psa.AlgNone || h == psa.AlgAnyHash {
		h = psa.AlgNone
		if k, ok := s.pub.(*ecdsa.PublicKey); ok {
			switch k.Curve {
			case elliptic.P256():
				h = psa.AlgSHA256
			case elliptic.P384():
				h = psa.AlgSHA384
			}
		}
	}
	if h == psa.AlgNone {
		return 0, fmt.Errorf("psaclient: signer: no hash given and the key (algorithm 0x%08x) names none: %w", s.attr.Algorithm, psa.ErrInvalidArgument)
	}
	n := 0 // a hash Go does not know has no digest that could match
	if ch := h.CryptoHash(); ch != 0 {
		n = ch.Size()
	}
	if len(digest) != n {
		return 0, fmt.Errorf("psaclient: signer: no hash given: a digest of %d bytes is not the key's hash (%d bytes): %w", len(digest), n, psa.ErrInvalidArgument)
	}
	return h, nil
}
