package attest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

// opaqueSigner hides the private key behind crypto.Signer, as the SPE's
// attestation key (which never leaves the SPE) does.
type opaqueSigner struct {
	s     crypto.Signer
	calls int
}

func (o *opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o *opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.calls++
	return o.s.Sign(r, digest, opts)
}

func TestSignWithOpaqueSigner(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k := newKey(t, curve)
		s := &opaqueSigner{s: k}
		c := sampleClaims(ProfileRFC9783)
		tok, err := Sign(c, s, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if s.calls != 1 {
			t.Fatalf("signer called %d times", s.calls)
		}
		if _, err := Verify(tok, VerifyOptions{Key: &k.PublicKey, Nonce: c.Nonce}); err != nil {
			t.Fatalf("%s: %v", curve.Params().Name, err)
		}
	}
}

func TestSignRefusesNonECDSAKeys(t *testing.T) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(sampleClaims(ProfileRFC9783), k, rand.Reader); !errors.Is(err, ErrKey) {
		t.Fatalf("ed25519 key: %v", err)
	}
	if _, err := Sign(sampleClaims(ProfileRFC9783), newKey(t, elliptic.P224()), rand.Reader); !errors.Is(err, ErrKey) {
		t.Fatalf("P-224 key: %v", err)
	}
}
