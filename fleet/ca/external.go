package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/scrypt"

	"rampart/internal/secfile"
)

// OpenExternal opens a CA whose private key is held outside Rampart (a
// PKCS#11 token, see package hsm) and is reached only as a crypto.Signer.
// Its certificate is dir's ca.crt; when dir holds none, a ten-year
// self-signed one is made with key and written there. A ca.crt of another
// key is refused (the token holds a different key than the fleet's).
//
// DeriveSecret cannot read such a key, so the secrets it derives are keyed
// by passphrase instead (scrypt, salted with the CA certificate's key):
// the server keeps needing its CA passphrase, and a copy of the database
// and data_dir without it still reveals none of them.
func OpenExternal(dir string, key crypto.Signer, passphrase []byte, o Options) (*CA, error) {
	if o.Rand == nil {
		return nil, errors.New("ca: options: Rand is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = "Rampart fleet CA"
	}
	if len(passphrase) == 0 {
		return nil, errors.New("ca: passphrase: empty (it keys the secrets the server derives)")
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || (pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384()) {
		return nil, fmt.Errorf("ca: the CA key must be ECDSA P-256 or P-384, not %T", key.Public())
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	var cert *x509.Certificate
	switch {
	case err == nil:
		if cert, err = parseCert(certPEM); err != nil {
			return nil, err
		}
		if !pub.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("ca: %s is the certificate of another key than the CA key in the token: move that key into the token (docs/roots-of-trust.md) or use another data_dir", filepath.Join(dir, CertFile))
		}
	case errors.Is(err, os.ErrNotExist):
		if cert, err = selfSign(dir, key, pub, o); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("ca: %w", err)
	}
	secret, err := externalSecret(passphrase, pub)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, rand: o.Rand, now: o.Now, secret: secret}, nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("ca: %s: no CERTIFICATE block", CertFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", CertFile, err)
	}
	return cert, nil
}

// selfSign makes the CA certificate of an external key and writes it to dir.
func selfSign(dir string, key crypto.Signer, pub *ecdsa.PublicKey, o Options) (*x509.Certificate, error) {
	serial, err := randSerial(o.Rand)
	if err != nil {
		return nil, err
	}
	pt, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	ski := sha256.Sum256(pt)
	now := o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.Name, Organization: []string{"Rampart"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("ca: self-sign with the token's key: %w", err)
	}
	if err := secfile.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if err := secfile.WriteFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return x509.ParseCertificate(der)
}

// externalSecret is the key of DeriveSecret for an external CA key.
func externalSecret(passphrase []byte, pub *ecdsa.PublicKey) ([]byte, error) {
	pt, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	salt := sha256.Sum256(append([]byte("rampart-ca-external-derive-v1|"), pt...))
	s, err := scrypt.Key(passphrase, salt[:], scryptN, scryptR, scryptP, 32)
	if err != nil {
		return nil, fmt.Errorf("ca: kdf: %w", err)
	}
	return s, nil
}
