// Package deviceprototest makes the public-key infrastructure the device
// protocol's tests need — a fleet CA, its job signer, a device certificate
// and the server's TLS certificate — with crypto/x509 alone, so that tests
// of deviceproto and of the device agent need no fleet package.
//
// It is for tests only: its keys are made in memory and never kept. It must
// never be imported by code that ships, and the certificates it makes
// follow the profiles fleet/ca issues (fleet/ca's tests check that a job
// signed with a certificate of its own passes deviceproto.VerifyJob).
package deviceprototest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/url"
	"testing"
	"time"

	"rampart/deviceproto"
)

// Fleet is a fleet's PKI as a device sees it, and a clock. Tests move Now;
// the job signer reads it.
type Fleet struct {
	CA     *x509.Certificate
	CAKey  *ecdsa.PrivateKey
	Signer *deviceproto.JobSigner // certified with the job signer's marks
	// Device is dev-a's certificate, issued by CA.
	Device    *x509.Certificate
	DeviceKey *ecdsa.PrivateKey
	// Server is the fleet's TLS certificate (fleet.example), issued by CA.
	Server    *x509.Certificate
	ServerKey *ecdsa.PrivateKey
	EnrollURL string
	Now       time.Time
	// Job is a job for the enrollment endpoint, to sign.
	Job deviceproto.Job

	serial int64
}

// DeviceID is the common name of Fleet.Device.
const DeviceID = "dev-a"

// New makes a fleet whose job signer may also send devices to endpoints
// (https://host[:port]).
func New(t testing.TB, endpoints ...string) *Fleet {
	t.Helper()
	f := &Fleet{Now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), EnrollURL: "https://fleet.example:8443"}
	f.CAKey = Key(t)
	f.CA = f.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Rampart fleet CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, &f.CAKey.PublicKey, 10*365*24*time.Hour)
	key := Key(t)
	f.Signer = &deviceproto.JobSigner{Key: key, Cert: f.IssueJobSigner(t, key, endpoints...), Now: func() time.Time { return f.Now }}
	f.DeviceKey = Key(t)
	devURI, _ := url.Parse("urn:rampart:psa-instance:010203") // fleet/ca: the attested instance ID
	f.Device = f.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: DeviceID}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, URIs: []*url.URL{devURI}}, &f.DeviceKey.PublicKey, 24*time.Hour)
	f.ServerKey = Key(t)
	f.Server = f.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "fleet.example"}, DNSNames: []string{"fleet.example"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &f.ServerKey.PublicKey, 90*24*time.Hour)
	f.Job = deviceproto.Job{ID: "rollout-2.0.0", Version: "2.0.0", URL: f.EnrollURL + "/images/abc?device=dev-a&token=00", Size: 4843,
		SHA256: "5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615"}
	return f
}

// IssueJobSigner certifies key as the fleet's job signer, as fleet/ca
// does: both role marks, digital signature, the endpoints as URI SANs.
func (f *Fleet) IssueJobSigner(t testing.TB, key *ecdsa.PrivateKey, endpoints ...string) *x509.Certificate {
	t.Helper()
	marker, _ := url.Parse(deviceproto.JobSignerURI)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "Rampart fleet job signer"}, KeyUsage: x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{deviceproto.OIDDocumentSigning}, URIs: []*url.URL{marker}}
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return f.issue(t, tmpl, &key.PublicKey, 90*24*time.Hour)
}

// Pool holds the fleet CA: a device's trust anchors.
func (f *Fleet) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.CA)
	return p
}

// Policy is what dev-a checks a job against now.
func (f *Fleet) Policy() deviceproto.JobPolicy {
	return deviceproto.JobPolicy{Roots: f.Pool(), Device: f.Device, EnrollURL: f.EnrollURL, Now: f.Now}
}

// Sign signs j for device with the fleet's job signer.
func (f *Fleet) Sign(t testing.TB, device string, j deviceproto.Job) []byte {
	t.Helper()
	b, err := f.Signer.Sign(device, j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issue signs tmpl with the CA key (the template itself for the CA),
// valid from an hour before Now for ttl.
func (f *Fleet) issue(t testing.TB, tmpl *x509.Certificate, pub *ecdsa.PublicKey, ttl time.Duration) *x509.Certificate {
	t.Helper()
	f.serial++
	tmpl.SerialNumber = big.NewInt(f.serial)
	tmpl.NotBefore, tmpl.NotAfter = f.Now.Add(-time.Hour), f.Now.Add(ttl)
	parent := f.CA
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, f.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Key makes a P-256 key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
