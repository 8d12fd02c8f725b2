package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCreateReopenIssue(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	// The key file holds no plain key material.
	kf, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	der, _ := x509.MarshalPKCS8PrivateKey(c.key)
	if bytes.Contains(kf, der) || strings.Contains(string(kf), "BEGIN PRIVATE KEY") || strings.Contains(string(kf), "EC PRIVATE KEY") {
		t.Fatal("CA key stored in plain form")
	}
	if st, _ := os.Stat(filepath.Join(dir, KeyFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	if _, err := Open(dir, []byte("wrong"), Options{Rand: rand.Reader}); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	c2, err := Open(dir, []byte("pw"), Options{Rand: rand.Reader})
	if err != nil || !c2.Certificate().Equal(c.Certificate()) {
		t.Fatalf("reopen: %v", err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c2.IssueDevice(&dk.PublicKey, "abc", []byte{1, 2, 3}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "abc" || len(cert.URIs) != 1 || cert.URIs[0].String() != DeviceURIPrefix+"010203" || !c.IsIssuer(cert) {
		t.Fatalf("device certificate: %v %v", cert.Subject, cert.URIs)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("device certificate usable as a server certificate")
	}
	// One file missing is an error, not a silent new CA.
	os.Remove(filepath.Join(dir, CertFile))
	if _, err := Open(dir, []byte("pw"), Options{Rand: rand.Reader}); err == nil {
		t.Fatal("opened a CA directory with only the key")
	}
}

func TestKeyFileTamper(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, err := EncryptKey(k, []byte("pw"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecryptKey(enc, []byte("pw"))
	if err != nil || !got.Equal(k) {
		t.Fatalf("round trip: %v", err)
	}
	// Changing a header (here the salt) must fail authentication.
	s := string(enc)
	i := strings.Index(s, "Salt: ") + 6
	bad := s[:i] + map[byte]string{'0': "1"}[s[i]] + s[i+1:]
	if s[i] != '0' {
		bad = s[:i] + "0" + s[i+1:]
	}
	if _, err := DecryptKey([]byte(bad), []byte("pw")); err == nil {
		t.Fatal("tampered header accepted")
	}
	for _, n := range []int{0, 10, len(enc) / 2, len(enc) - 30} {
		if _, err := DecryptKey(enc[:n], []byte("pw")); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	if _, err := EncryptKey(k, nil, rand.Reader); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}
