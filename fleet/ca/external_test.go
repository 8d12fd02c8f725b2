//go:build cgo

package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/hsm"
	"rampart/hsm/hsmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hsmtest.Cleanup()
	os.Exit(code)
}

func openToken(t testing.TB, uri string) *hsm.Key {
	t.Helper()
	k, err := hsm.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// TestExternalKeyCA: a CA whose key is in SoftHSM2 makes its certificate,
// issues device certificates that verify, reopens with the same
// certificate and derived secrets, and refuses a ca.crt of another key.
func TestExternalKeyCA(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "ca", "01")
	tk.Generate(t, "EC:prime256v1", "other", "02")
	dir := t.TempDir()
	pass := []byte("a long passphrase for tests")
	c, err := OpenExternal(dir, openToken(t, tk.URI("ca")), pass, Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a key file was written beside a token key: %v", err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueDevice(&dk.PublicKey, "dev-1", []byte{1, 2}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("device certificate from the token CA: %v", err)
	}
	if iss, err := c.IssueDeviceDER(&dk.PublicKey, "dev-2", []byte{3}, time.Hour); err != nil {
		t.Fatal(err)
	} else if dc, err := x509.ParseCertificate(iss.DER); err != nil || dc.CheckSignatureFrom(c.Certificate()) != nil {
		t.Fatalf("IssueDeviceDER: %v", err)
	}
	s1, _ := c.DeriveSecret("campaign download keys")
	c2, err := OpenExternal(dir, openToken(t, tk.URI("ca")), pass, Options{Rand: rand.Reader})
	if err != nil || !c2.Certificate().Equal(c.Certificate()) {
		t.Fatalf("reopen: %v", err)
	}
	if s2, _ := c2.DeriveSecret("campaign download keys"); !bytes.Equal(s1, s2) || len(s1) != 32 {
		t.Fatal("derived secrets change when the CA reopens")
	}
	c3, _ := OpenExternal(t.TempDir(), openToken(t, tk.URI("ca")), []byte("another passphrase entirely"), Options{Rand: rand.Reader})
	if s3, _ := c3.DeriveSecret("campaign download keys"); bytes.Equal(s1, s3) {
		t.Fatal("derived secrets do not depend on the passphrase")
	}
	if _, err := OpenExternal(dir, openToken(t, tk.URI("other")), pass, Options{Rand: rand.Reader}); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("a token key that is not ca.crt's: %v", err)
	}
}

// TestFileCAMovedIntoToken: the key of an existing file CA, imported into
// the token, keeps the same ca.crt, so enrolled devices keep trusting it.
func TestFileCAMovedIntoToken(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("a long passphrase for tests")
	fileCA, err := Open(dir, pass, Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	tk := hsmtest.Start(t)
	enc, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	key, err := DecryptKey(enc, pass)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	plain := filepath.Join(t.TempDir(), "ca.pem") // test only: the docs import without a plain file
	os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	tk.Import(t, plain, "ca", "01")
	os.Remove(filepath.Join(dir, KeyFile))
	c, err := OpenExternal(dir, openToken(t, tk.URI("ca")), pass, Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Certificate().Equal(fileCA.Certificate()) {
		t.Fatal("the CA certificate changed when its key moved into the token")
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueDevice(&dk.PublicKey, "dev", []byte{9}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: fileCA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("a certificate of the moved CA against the old CA certificate: %v", err)
	}
}

// BenchmarkIssueDeviceTokenVsFile: device certificates per second with the
// CA key in SoftHSM2 against the encrypted key file, in the same run.
func BenchmarkIssueDeviceTokenVsFile(b *testing.B) {
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pass := []byte("a long passphrase for tests")
	fileCA, err := Open(b.TempDir(), pass, Options{Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	tk := hsmtest.Start(b)
	tk.Generate(b, "EC:prime256v1", "ca", "01")
	tokenCA, err := OpenExternal(b.TempDir(), openToken(b, tk.URI("ca")), pass, Options{Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ca   *CA
	}{{"file", fileCA}, {"softhsm2", tokenCA}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.ca.IssueDeviceDER(&dk.PublicKey, "dev", []byte{1, 2, 3, 4}, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}
