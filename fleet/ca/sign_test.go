package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"
)

// The certificate signed without CreateCertificate's self-check carries the
// very TBSCertificate CreateCertificate builds for the same template, and a
// valid signature by the CA.
func TestSignMatchesCreateCertificate(t *testing.T) {
	c, err := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(DeviceURIPrefix + "0102")
	now := time.Now().UTC().Truncate(time.Second)
	serial, _ := randSerial(rand.Reader)
	tmpl := func() *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: serial, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
			Subject:     pkix.Name{CommonName: "dev", Organization: []string{"Rampart fleet device"}},
			URIs:        []*url.URL{u},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, AuthorityKeyId: c.cert.SubjectKeyId,
		}
	}
	// This Go hands the signer the TBSCertificate: the fast path is taken.
	capt := &tbsCapture{pub: c.key.Public()}
	if _, err := x509.CreateCertificate(rand.Reader, tmpl(), c.cert, &dk.PublicKey, capt); !errors.Is(err, errTBSCaptured) || capt.hash != crypto.SHA256 {
		t.Fatalf("capture: %v, hash %v", err, capt.hash)
	}
	fast, err := c.sign(tmpl(), &dk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := x509.CreateCertificate(rand.Reader, tmpl(), c.cert, &dk.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := x509.ParseCertificate(fast)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	b, _ := x509.ParseCertificate(ref)
	if !bytes.Equal(a.RawTBSCertificate, b.RawTBSCertificate) {
		t.Fatalf("TBSCertificate differs from CreateCertificate's:\n%x\n%x", a.RawTBSCertificate, b.RawTBSCertificate)
	}
	if a.SignatureAlgorithm != x509.ECDSAWithSHA256 || a.CheckSignatureFrom(c.cert) != nil || !c.IsIssuer(a) {
		t.Fatalf("signature: %v %v", a.SignatureAlgorithm, a.CheckSignatureFrom(c.cert))
	}
}

// IssueDeviceDER reports the serial and validity the DER encodes.
func TestIssueDeviceDERFields(t *testing.T) {
	c, err := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	is, err := c.IssueDeviceDER(&dk.PublicKey, "dev", []byte{1}, 90*time.Minute+500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(is.DER)
	if err != nil {
		t.Fatal(err)
	}
	if cert.SerialNumber.Cmp(is.Serial) != 0 || !cert.NotBefore.Equal(is.NotBefore) || !cert.NotAfter.Equal(is.NotAfter) {
		t.Fatalf("Issued %v %v..%v, certificate %v %v..%v", is.Serial, is.NotBefore, is.NotAfter, cert.SerialNumber, cert.NotBefore, cert.NotAfter)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
}

// opaqueSigner hides the key type, as an HSM signer would.
type opaqueSigner struct{ k *ecdsa.PrivateKey }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}

// Any other signer goes through CreateCertificate, self-check included.
func TestSignOtherSigner(t *testing.T) {
	c, err := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	c.key = opaqueSigner{c.key.(*ecdsa.PrivateKey)}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueDevice(&dk.PublicKey, "dev", []byte{1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsIssuer(cert) {
		t.Fatal("not signed by the CA")
	}
}

// signTBS refuses what is not a TBSCertificate.
func TestSignTBSMalformed(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tbs := range map[string][]byte{
		"empty":     nil,
		"truncated": {0x30, 0x10, 0x02},
		"trailing":  {0x30, 0x03, 0x02, 0x01, 0x01, 0x00},
		"no alg":    {0x30, 0x03, 0x02, 0x01, 0x01},
	} {
		if _, err := signTBS(tbs, crypto.SHA256, k, rand.Reader); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}
