package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
)

// TestSPKIMatchesX509: SPKI returns x509.MarshalPKIXPublicKey's bytes for
// P-256 and P-384 keys (the fast path) and for other keys (the fallback),
// and the same error for a key off its curve.
func TestSPKIMatchesX509(t *testing.T) {
	var keys []any
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		for range 20 {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, &k.PublicKey)
		}
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	keys = append(keys, edPub)
	for _, pub := range keys {
		want, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SPKI(pub)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%T: SPKI = %x, %v; MarshalPKIXPublicKey = %x", pub, got, err, want)
		}
	}
	//lint:ignore SA1019 a point off the curve can only be built from raw coordinates
	off := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	if _, err := SPKI(off); err == nil {
		t.Fatal("SPKI accepted a point off the curve")
	}
	if _, err := SPKI(struct{}{}); err == nil {
		t.Fatal("SPKI accepted an unknown key type")
	}
}

func BenchmarkSPKI(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b.Run("x509", func(b *testing.B) {
		for b.Loop() {
			x509.MarshalPKIXPublicKey(&k.PublicKey)
		}
	})
	b.Run("SPKI", func(b *testing.B) {
		for b.Loop() {
			SPKI(&k.PublicKey)
		}
	})
}
