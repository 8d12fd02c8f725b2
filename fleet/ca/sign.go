package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Issued is a freshly issued certificate as the enrollment path needs it:
// the DER and the fields the store records, without parsing the DER back.
type Issued struct {
	DER       []byte
	Serial    *big.Int
	NotBefore time.Time // as encoded: whole seconds, UTC
	NotAfter  time.Time
}

// sign returns the DER certificate for template t (serial and validity
// set) and subject key pub, signed by the CA key.
//
// x509.CreateCertificate verifies every signature it has just made, to
// catch a misbehaving crypto.Signer (an HSM or a remote signer). That check
// is a whole ECDSA verification, as costly as checking the device's token,
// and it was a quarter of the cryptography per enrollment. The CA key here is
// always the standard library's own in-memory *ecdsa.PrivateKey (DecryptKey,
// create), for which the check guards against nothing: so for that key
// type, CreateCertificate still builds the TBSCertificate (every field,
// extension and encoding rule is the standard library's, byte for byte), a
// capturing signer takes it, and it is signed here with ecdsa.SignASN1 and
// wrapped in the Certificate SEQUENCE. Any other key type goes through
// CreateCertificate unchanged, check included.
func (c *CA) sign(t *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if k, ok := c.key.(*ecdsa.PrivateKey); ok {
		capt := &tbsCapture{pub: k.Public()}
		_, err := x509.CreateCertificate(c.rand, t, c.cert, pub, capt)
		switch {
		case errors.Is(err, errTBSCaptured):
			return signTBS(capt.tbs, capt.hash, k, c.rand)
		case errors.Is(err, errNoMessage):
			// This Go did not hand the signer the message: sign the
			// ordinary way below.
		case err != nil:
			return nil, fmt.Errorf("ca: issue: %w", err)
		}
	}
	der, err := x509.CreateCertificate(c.rand, t, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue: %w", err)
	}
	return der, nil
}

var (
	errTBSCaptured = errors.New("ca: TBSCertificate captured")
	errNoMessage   = errors.New("ca: signer was given a digest, not the TBSCertificate")
)

// tbsCapture is a crypto.MessageSigner that keeps the message it is asked
// to sign (the TBSCertificate) and signs nothing.
type tbsCapture struct {
	pub  crypto.PublicKey
	tbs  []byte
	hash crypto.Hash
}

func (c *tbsCapture) Public() crypto.PublicKey { return c.pub }

func (c *tbsCapture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errNoMessage
}

func (c *tbsCapture) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.tbs = append([]byte(nil), msg...)
	c.hash = opts.HashFunc()
	return nil, errTBSCaptured
}

// signTBS signs tbs with k and returns the Certificate DER:
// SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING },
// where signatureAlgorithm is copied from the TBSCertificate's own
// signature field (RFC 5280 4.1.1.2 requires them equal).
func signTBS(tbs []byte, h crypto.Hash, k *ecdsa.PrivateKey, rand io.Reader) ([]byte, error) {
	if !h.Available() {
		return nil, fmt.Errorf("ca: issue: hash %v unavailable", h)
	}
	in := cryptobyte.String(tbs)
	var body, alg cryptobyte.String
	if !in.ReadASN1(&body, casn1.SEQUENCE) || !in.Empty() ||
		!body.SkipOptionalASN1(casn1.Tag(0).Constructed().ContextSpecific()) ||
		!body.SkipASN1(casn1.INTEGER) ||
		!body.ReadASN1Element(&alg, casn1.SEQUENCE) {
		return nil, errors.New("ca: issue: TBSCertificate: cannot find the signature algorithm")
	}
	d := h.New()
	d.Write(tbs)
	sig, err := ecdsa.SignASN1(rand, k, d.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("ca: issue: sign: %w", err)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+96)) // one allocation, no regrowth
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString(sig)
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: issue: %w", err)
	}
	return der, nil
}
