package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
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
	if !marked(cert) || len(uris) != 3 || uris[0] != JobSignerURI || uris[1] != "https://cdn.example:8444" || uris[2] != "https://images.example" || cert.IsCA {
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
		if o.Equal(OIDDocumentSigning) {
			return true
		}
	}
	for _, u := range c.URIs {
		if u.String() == JobSignerURI {
			return true
		}
	}
	return false
}
