package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
)

// TestJobSignerCertificate: the job signer's certificate carries the two
// role marks (id-kp-documentSigning, the job signer URI) and the certified
// endpoints, and no TLS usage; device and server certificates carry
// neither mark; an endpoint that is not https://host[:port] is refused.
func TestJobSignerCertificate(t *testing.T) {
	c, err := Open(t.TempDir(), []byte("job signer test passphrase"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueJobSigner(&k.PublicKey, []string{"https://cdn.example:8444", "https://images.example/"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{u}}); err == nil {
			t.Fatalf("job signer certificate usable for TLS (%v)", u)
		}
	}
	var uris []string
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	if !marked(cert) || len(uris) != 3 || uris[0] != deviceproto.JobSignerURI || uris[1] != "https://cdn.example:8444" || uris[2] != "https://images.example" || cert.IsCA {
		t.Fatalf("job signer certificate: EKU %v, URIs %v", cert.UnknownExtKeyUsage, uris)
	}
	dev, _ := c.IssueDevice(&k.PublicKey, "dev", []byte{1}, time.Hour)
	srv, _ := c.IssueServer(&k.PublicKey, []string{"fleet.example"}, time.Hour)
	if marked(dev) || marked(srv) {
		t.Fatal("a device or server certificate carries a job signer mark")
	}
	for _, e := range []string{"http://cdn.example", "https://", "https://u@cdn.example", "https://cdn.example/path", "https://cdn.example?q", "cdn.example:443"} {
		if _, err := c.IssueJobSigner(&k.PublicKey, []string{e}, time.Hour); err == nil {
			t.Errorf("endpoint %q certified", e)
		}
	}
}

// marked reports whether a certificate carries either job signer mark.
func marked(c *x509.Certificate) bool {
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(deviceproto.OIDDocumentSigning) {
			return true
		}
	}
	for _, u := range c.URIs {
		if u.String() == deviceproto.JobSignerURI {
			return true
		}
	}
	return false
}

// TestJobSignerSignsWhatDevicesAccept: a job signed with the key this CA
// certified as the job signer passes a device's check (the device's
// certificate from the same CA); one signed with the server's TLS key and
// certificate, or a device's, does not.
func TestJobSignerSignsWhatDevicesAccept(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c, err := Open(t.TempDir(), []byte("job signer test passphrase"), Options{Rand: rand.Reader, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	key := func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	sk, dk, tk := key(), key(), key()
	signerCert, err := c.IssueJobSigner(&sk.PublicKey, []string{"https://cdn.example:8444"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := c.IssueDevice(&dk.PublicKey, "dev-a", []byte{1, 2, 3}, time.Hour)
	srv, _ := c.IssueServer(&tk.PublicKey, []string{"fleet.example"}, time.Hour)
	policy := deviceproto.JobPolicy{Roots: c.Pool(), Device: dev, EnrollURL: "https://fleet.example:8443", Now: now}
	job := deviceproto.Job{ID: "j", Version: "2.0.0", URL: "https://cdn.example:8444/v2.bin", Size: 1,
		SHA256: "5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615"}
	for _, tc := range []struct {
		name string
		key  *ecdsa.PrivateKey
		cert *x509.Certificate
		want error
	}{
		{"the job signer", sk, signerCert, nil},
		{"the server's TLS key", tk, srv, deviceproto.ErrJobSignature},
		{"a device's key", dk, dev, deviceproto.ErrJobSignature},
	} {
		msg, err := (&deviceproto.JobSigner{Key: tc.key, Cert: tc.cert, Now: clock}).Sign("dev-a", job)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deviceproto.VerifyJob(msg, policy); !errors.Is(err, tc.want) {
			t.Errorf("signed by %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
