package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Rotation of the fleet CA (docs/ownership-and-rotation.md).
//
// A successor is a new CA (a new P-256 key, a self-signed certificate of
// its own name) and a cross certificate: the successor's name and key
// certified by the predecessor, the predecessor's statement that the new
// key succeeds it. Rampart's CA certificates say MaxPathLen 0, so no
// standard path validation goes through a cross certificate under them;
// a device verifies the cross certificate's signature with the key it
// already trusts instead (deviceproto.CrossRoots), and the successor's own
// certificate allows one intermediate, so that the next rotation's cross
// certificate validates as a path too.

// Successor makes the CA that succeeds c, named name (c's name with the
// generation when empty), with the cross certificate c signs for it. The
// successor's key is returned encrypted under passphrase, as Generate
// does; c is unchanged.
func (c *CA) Successor(name string, passphrase []byte) (next *CA, certPEM, keyPEM []byte, cross *x509.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.rand)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ca: successor key: %w", err)
	}
	enc, err := EncryptKey(key, passphrase, c.rand)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if name == "" || name == c.cert.Subject.CommonName {
		return nil, nil, nil, nil, errors.New("ca: successor: needs a name of its own")
	}
	now := c.now()
	ski := sha256.Sum256(elliptic.MarshalCompressed(elliptic.P256(), key.X, key.Y))
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Rampart"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		SubjectKeyId:          ski[:20],
	}
	if tmpl.SerialNumber, err = randSerial(c.rand); err != nil {
		return nil, nil, nil, nil, err
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ca: successor: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	xt := *tmpl
	xt.MaxPathLen, xt.MaxPathLenZero = 0, true
	xt.AuthorityKeyId = c.cert.SubjectKeyId
	if xt.NotAfter.After(c.cert.NotAfter) {
		xt.NotAfter = c.cert.NotAfter
	}
	if xt.SerialNumber, err = randSerial(c.rand); err != nil {
		return nil, nil, nil, nil, err
	}
	xder, err := x509.CreateCertificate(c.rand, &xt, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ca: cross certificate: %w", err)
	}
	cross, _ = x509.ParseCertificate(xder)
	next = &CA{cert: cert, key: key, rand: c.rand, now: c.now}
	return next, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), enc, cross, nil
}

// Accept makes c accept certificates its predecessors issued (Pool,
// IsAccepted) until Accept is called again; none ends the acceptance. Safe
// for concurrent use with every other method.
func (c *CA) Accept(predecessors ...*x509.Certificate) {
	l := append([]*x509.Certificate(nil), predecessors...)
	c.accepted.Store(&l)
}

// Accepted returns the predecessors whose certificates c still accepts.
func (c *CA) Accepted() []*x509.Certificate {
	if p := c.accepted.Load(); p != nil {
		return *p
	}
	return nil
}

// IsAccepted reports whether cert was signed by c or by a predecessor it
// still accepts.
func (c *CA) IsAccepted(cert *x509.Certificate) bool {
	if c.IsIssuer(cert) {
		return true
	}
	for _, a := range c.Accepted() {
		if bytes.Equal(cert.RawIssuer, a.RawSubject) && cert.CheckSignatureFrom(a) == nil {
			return true
		}
	}
	return false
}

// ParseCertificatePEM reads one PEM certificate.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("ca: no CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}
