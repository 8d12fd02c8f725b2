package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
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

func TestCertsOnlyDER(t *testing.T) {
	c, err := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dev, err := c.IssueDevice(&dk.PublicKey, "dev", []byte{1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]*x509.Certificate{{dev}, {dev, c.Certificate()}} {
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
