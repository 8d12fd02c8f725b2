package spki

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

// TestMatchesX509: Marshal returns x509.MarshalPKIXPublicKey's bytes for
// P-256 and P-384 keys (the fast path) and for other keys (the fallback),
// and the same error for a key off its curve.
func TestMatchesX509(t *testing.T) {
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
		got, err := Marshal(pub)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%T: Marshal = %x, %v; MarshalPKIXPublicKey = %x", pub, got, err, want)
		}
	}
	//lint:ignore SA1019 a point off the curve can only be built from raw coordinates
	off := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	if _, err := Marshal(off); err == nil {
		t.Fatal("Marshal accepted a point off the curve")
	}
	if _, err := Marshal(struct{}{}); err == nil {
		t.Fatal("Marshal accepted an unknown key type")
	}
}

func BenchmarkMarshal(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b.Run("x509", func(b *testing.B) {
		for b.Loop() {
			x509.MarshalPKIXPublicKey(&k.PublicKey)
		}
	})
	b.Run("Marshal", func(b *testing.B) {
		for b.Loop() {
			Marshal(&k.PublicKey)
		}
	})
}
