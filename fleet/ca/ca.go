package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"rampart/internal/secfile"
)

// File names inside the CA directory.
const (
	CertFile = "ca.crt"     // the CA certificate, PEM
	KeyFile  = "ca.key.enc" // the CA key, encrypted (EncryptKey)
)

// CA issues fleet certificates.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// secret keys DeriveSecret when key is external (OpenExternal): its
	// value cannot be read.
	secret []byte
	rand   io.Reader
	now    func() time.Time

	fixedOnce sync.Once // deviceFixed
	fixed     *deviceFixedParts
	fixedErr  error

	// accepted are predecessors whose certificates are still accepted
	// during a rotation (rotate.go); nil outside one.
	accepted atomic.Pointer[[]*x509.Certificate]
}

// Options configure Open.
type Options struct {
	Rand io.Reader        // randomness; required
	Now  func() time.Time // clock; time.Now when nil
	// Name is the CA's common name when a new CA is created.
	Name string
}

// Open loads the CA from dir, or creates it there (a P-256 key and a
// ten-year self-signed certificate) when dir holds neither file. The key
// file is written encrypted with passphrase, with mode 0600, in a 0700
// directory (an existing one with group or other access is tightened
// first). Loading an existing CA changes no mode: the server tightens its
// data_dir and key file itself (fleet.New), warning where it cannot.
func Open(dir string, passphrase []byte, o Options) (*CA, error) {
	if o.Rand == nil {
		return nil, errors.New("ca: options: Rand is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = "Rampart fleet CA"
	}
	certPEM, errC := os.ReadFile(filepath.Join(dir, CertFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, KeyFile))
	switch {
	case errC == nil && errK == nil:
		return load(certPEM, keyPEM, passphrase, o)
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		return create(dir, passphrase, o)
	case errC != nil && !errors.Is(errC, os.ErrNotExist):
		return nil, fmt.Errorf("ca: %w", errC)
	case errK != nil && !errors.Is(errK, os.ErrNotExist):
		return nil, fmt.Errorf("ca: %w", errK)
	}
	return nil, fmt.Errorf("ca: %s holds only one of %s and %s", dir, CertFile, KeyFile)
}

func load(certPEM, keyPEM, passphrase []byte, o Options) (*CA, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("ca: %s: no CERTIFICATE block", CertFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", CertFile, err)
	}
	key, err := DecryptKey(keyPEM, passphrase)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("ca: %s does not match %s", KeyFile, CertFile)
	}
	return &CA{cert: cert, key: key, rand: o.Rand, now: o.Now}, nil
}

func create(dir string, passphrase []byte, o Options) (*CA, error) {
	c, certPEM, keyPEM, err := Generate(passphrase, o)
	if err != nil {
		return nil, err
	}
	if err := secfile.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	// The certificate is public, but it lives in the 0700 directory anyway;
	// both files are written whole and renamed into place.
	if err := secfile.WriteFile(filepath.Join(dir, KeyFile), keyPEM); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if err := secfile.WriteFile(filepath.Join(dir, CertFile), certPEM); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return c, nil
}

// Generate makes a new CA (a P-256 key and a ten-year self-signed
// certificate) in memory and returns it with its certificate (PEM) and
// its key encrypted under passphrase (EncryptKey), writing nothing: the
// nodes of a cluster keep them in the store (fleet, Load).
func Generate(passphrase []byte, o Options) (c *CA, certPEM, keyPEM []byte, err error) {
	if o.Rand == nil {
		return nil, nil, nil, errors.New("ca: options: Rand is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = "Rampart fleet CA"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ca: generate key: %w", err)
	}
	enc, err := EncryptKey(key, passphrase, o.Rand)
	if err != nil {
		return nil, nil, nil, err
	}
	now := o.Now()
	serial, err := randSerial(o.Rand)
	if err != nil {
		return nil, nil, nil, err
	}
	ski := sha256.Sum256(elliptic.MarshalCompressed(elliptic.P256(), key.X, key.Y))
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
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ca: self-sign: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &CA{cert: cert, key: key, rand: o.Rand, now: o.Now}, certPEM, enc, nil
}

// Load opens a CA from its certificate (PEM) and its encrypted key, as
// Generate returns them or Open reads them from a directory.
func Load(certPEM, keyPEM, passphrase []byte, o Options) (*CA, error) {
	if o.Rand == nil {
		return nil, errors.New("ca: options: Rand is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return load(certPEM, keyPEM, passphrase, o)
}

// ReadFiles reads the CA files of dir, if both are there (ok false when
// neither is; an error when only one is).
func ReadFiles(dir string) (certPEM, keyPEM []byte, ok bool, err error) {
	certPEM, errC := os.ReadFile(filepath.Join(dir, CertFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, KeyFile))
	switch {
	case errC == nil && errK == nil:
		return certPEM, keyPEM, true, nil
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		return nil, nil, false, nil
	case errC != nil && !errors.Is(errC, os.ErrNotExist):
		return nil, nil, false, fmt.Errorf("ca: %w", errC)
	case errK != nil && !errors.Is(errK, os.ErrNotExist):
		return nil, nil, false, fmt.Errorf("ca: %w", errK)
	}
	return nil, nil, false, fmt.Errorf("ca: %s holds only one of %s and %s", dir, CertFile, KeyFile)
}

func randSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("ca: serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // positive, always 16 bytes long
	return new(big.Int).SetBytes(b), nil
}

// Certificate returns the CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Pool returns a pool holding the CA certificate and, during a rotation,
// the predecessors still accepted (Accept).
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	for _, a := range c.Accepted() {
		p.AddCert(a)
	}
	return p
}

// Serial formats a certificate serial number as the store keeps it.
func Serial(n *big.Int) string { return hex.EncodeToString(n.Bytes()) }

// DeviceURIPrefix prefixes the instance ID (hex) in a device certificate's
// URI subject alternative name.
const DeviceURIPrefix = "urn:rampart:psa-instance:"

// IssueDevice issues a client certificate for pub (already vetted), with the
// device ID as the subject common name and the attestation instance ID as a
// URI SAN, valid for ttl.
func (c *CA) IssueDevice(pub crypto.PublicKey, deviceID string, instanceID []byte, ttl time.Duration) (*x509.Certificate, error) {
	is, err := c.IssueDeviceDER(pub, deviceID, instanceID, ttl)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(is.DER)
}

// IssueDeviceDER is IssueDevice without parsing the result back: the
// enrollment path needs only the DER, the serial and the validity. The
// TBSCertificate is written directly (deviceTBS) when the inputs allow it,
// through x509.CreateCertificate otherwise: the same bytes either way.
func (c *CA) IssueDeviceDER(pub crypto.PublicKey, deviceID string, instanceID []byte, ttl time.Duration) (*Issued, error) {
	u, err := url.Parse(DeviceURIPrefix + hex.EncodeToString(instanceID))
	if err != nil {
		return nil, fmt.Errorf("ca: instance id: %w", err)
	}
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: deviceID, Organization: []string{deviceOrganization}},
		URIs:        []*url.URL{u},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := c.fill(t, ttl); err != nil {
		return nil, err
	}
	tbs, ok, err := c.deviceTBS(t.SerialNumber, t.NotBefore, t.NotAfter, deviceID, u, pub)
	if err != nil {
		return nil, err
	}
	var der []byte
	if ok {
		der, err = signTBS(tbs, crypto.SHA256, c.key.(*ecdsa.PrivateKey), c.rand)
	} else {
		der, err = c.sign(t, pub)
	}
	if err != nil {
		return nil, err
	}
	return &Issued{DER: der, Serial: t.SerialNumber, NotBefore: t.NotBefore, NotAfter: t.NotAfter}, nil
}

// IssueServer issues a TLS server certificate for hosts (DNS names or IP
// addresses), valid for ttl.
func (c *CA) IssueServer(pub crypto.PublicKey, hosts []string, ttl time.Duration) (*x509.Certificate, error) {
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "Rampart fleet server"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	return c.issue(pub, t, ttl)
}

func (c *CA) issue(pub crypto.PublicKey, t *x509.Certificate, ttl time.Duration) (*x509.Certificate, error) {
	is, err := c.issueDER(pub, t, ttl)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(is.DER)
}

func (c *CA) issueDER(pub crypto.PublicKey, t *x509.Certificate, ttl time.Duration) (*Issued, error) {
	if err := c.fill(t, ttl); err != nil {
		return nil, err
	}
	der, err := c.sign(t, pub)
	if err != nil {
		return nil, err
	}
	return &Issued{DER: der, Serial: t.SerialNumber, NotBefore: t.NotBefore, NotAfter: t.NotAfter}, nil
}

// fill sets the serial, the validity and the authority key ID of t.
func (c *CA) fill(t *x509.Certificate, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("ca: ttl %v: must be positive", ttl)
	}
	serial, err := randSerial(c.rand)
	if err != nil {
		return err
	}
	// Whole seconds, UTC: what the certificate encodes, so the times
	// recorded next to it are the certificate's own.
	now := c.now().UTC().Truncate(time.Second)
	t.SerialNumber = serial
	t.NotBefore = now.Add(-time.Minute) // small clock skew allowance
	t.NotAfter = now.Add(ttl).Truncate(time.Second)
	if t.NotAfter.After(c.cert.NotAfter) {
		t.NotAfter = c.cert.NotAfter.UTC()
	}
	t.AuthorityKeyId = c.cert.SubjectKeyId
	return nil
}

// IsIssuer reports whether cert was signed by this CA (not by an accepted
// predecessor: IsAccepted).
func (c *CA) IsIssuer(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, c.cert.RawSubject) && cert.CheckSignatureFrom(c.cert) == nil
}
