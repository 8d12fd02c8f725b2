package deviceproto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certsOnlyReflect is the earlier encoder (encoding/asn1 reflection), kept
// as the reference CertsOnlyDER must equal byte for byte.
func certsOnlyReflect(certs ...[]byte) ([]byte, error) {
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: []byte{}}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: emptySet,
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: bytes.Join(certs, nil)},
		SignerInfos:      emptySet,
	}
	sd.ContentInfo.ContentType = oidData
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}

// certPair is a CA certificate and a device certificate it issued, as an
// enrollment answer carries them.
func certPair(t testing.TB) (caCert, dev *x509.Certificate) {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Rampart fleet CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ = x509.ParseCertificate(der)
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	devTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dev"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if der, err = x509.CreateCertificate(rand.Reader, devTmpl, caCert, &dk.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	dev, _ = x509.ParseCertificate(der)
	return caCert, dev
}

func TestCertsOnlyDER(t *testing.T) {
	caCert, dev := certPair(t)
	for _, set := range [][]*x509.Certificate{{dev}, {dev, caCert}} {
		var ders [][]byte
		for _, x := range set {
			ders = append(ders, x.Raw)
		}
		got, err := CertsOnlyDER(ders...)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := certsOnlyReflect(ders...)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d certificates:\n got %x\nwant %x", len(set), got, want)
		}
		back, err := ParseCertsOnly(got)
		if err != nil || len(back) != len(set) || !back[0].Equal(set[0]) {
			t.Fatalf("round trip: %v", err)
		}
	}
	if _, err := CertsOnlyDER(); err == nil {
		t.Fatal("empty certs-only encoded")
	}
}

func TestCertsOnly(t *testing.T) {
	caCert, _ := certPair(t)
	p7, err := CertsOnly(caCert)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertsOnly(p7)
	if err != nil || len(certs) != 1 || !certs[0].Equal(caCert) {
		t.Fatalf("round trip: %v", err)
	}
	for i := range len(p7) {
		if _, err := ParseCertsOnly(p7[:i]); err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
	}
	// OpenSSL reads it as PKCS#7 (when installed).
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: cross-check skipped")
	}
	f := filepath.Join(t.TempDir(), "p7.der")
	os.WriteFile(f, p7, 0o600)
	out, err := exec.Command("openssl", "pkcs7", "-inform", "DER", "-in", f, "-print_certs", "-noout").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Rampart fleet CA") {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
}

// FuzzParseCertsOnly: the parser never panics, and whatever it accepts
// re-encodes and parses to as many certificates again.
func FuzzParseCertsOnly(f *testing.F) {
	caCert, dev := certPair(f)
	for _, set := range [][][]byte{{dev.Raw}, {dev.Raw, caCert.Raw}} {
		p7, err := CertsOnlyDER(set...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p7)
		f.Add(p7[:len(p7)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := ParseCertsOnly(b)
		if err != nil {
			return
		}
		ders := make([][]byte, len(certs))
		for i, c := range certs {
			ders[i] = c.Raw
		}
		again, err := CertsOnlyDER(ders...)
		if err != nil {
			t.Fatalf("parsed certificates do not re-encode: %v", err)
		}
		back, err := ParseCertsOnly(again)
		if err != nil || len(back) != len(certs) {
			t.Fatalf("re-encoded: %d certificates, %v", len(back), err)
		}
	})
}
