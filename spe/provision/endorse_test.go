package provision_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"rampart/attest"
	"rampart/spe/provision"
)

func key(curve elliptic.Curve, s string) *ecdsa.PrivateKey {
	h := sha256.Sum256([]byte(s))
	k, err := ecdsa.GenerateKey(curve, rand.NewChaCha8(h))
	if err != nil {
		panic(err)
	}
	return k
}

func signedList(t testing.TB, mfr *ecdsa.PrivateKey) ([]byte, []byte) {
	t.Helper()
	iak := key(elliptic.P256(), "iak")
	var l attest.EndorsementList
	if err := l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, ImplementationID: bytes.Repeat([]byte{1}, 32)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l.WriteJSON(&buf)
	s, err := provision.SignEndorsements(buf.Bytes(), mfr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), s
}

func TestEndorsementRoundTripAndRefusals(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		mfr := key(curve, "manufacturer")
		list, signed := signedList(t, mfr)
		got, payload, err := provision.VerifyEndorsements(signed, &mfr.PublicKey)
		if err != nil || !bytes.Equal(payload, list) || got.Len() != 1 {
			t.Fatalf("%s: %v", curve.Params().Name, err)
		}
		for n := 0; n < len(signed); n++ {
			if _, _, err := provision.VerifyEndorsements(signed[:n], &mfr.PublicKey); err == nil {
				t.Fatalf("prefix %d verified", n)
			}
		}
		for i := 0; i < len(signed); i++ {
			c := bytes.Clone(signed)
			c[i] ^= 0x20
			if _, p, err := provision.VerifyEndorsements(c, &mfr.PublicKey); err == nil && !bytes.Equal(p, list) {
				t.Fatalf("flip at %d verified with a different payload", i)
			}
		}
		other := key(curve, "someone else")
		if _, _, err := provision.VerifyEndorsements(signed, &other.PublicKey); !errors.Is(err, provision.ErrEndorsementSignature) {
			t.Fatalf("other key: %v", err)
		}
	}
	// A P-256 signature is not accepted for a P-384 manufacturer key.
	_, s256 := signedList(t, key(elliptic.P256(), "m"))
	if _, _, err := provision.VerifyEndorsements(s256, &key(elliptic.P384(), "m").PublicKey); err == nil {
		t.Fatal("algorithm confusion accepted")
	}
	if _, err := provision.SignEndorsements([]byte("{}"), key(elliptic.P224(), "x"), nil); err == nil {
		t.Fatal("P-224 manufacturer key accepted")
	}
	if _, _, err := provision.VerifyEndorsements(make([]byte, provision.MaxSigned+1), &key(elliptic.P256(), "m").PublicKey); err == nil {
		t.Fatal("oversized input accepted")
	}
}

// FuzzVerifyEndorsements feeds hostile signed endorsements to the verifier.
func FuzzVerifyEndorsements(f *testing.F) {
	mfr := key(elliptic.P256(), "manufacturer")
	_, signed := signedList(f, mfr)
	f.Add(signed)
	f.Add([]byte{0xd2, 0x84})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, p, err := provision.VerifyEndorsements(b, &mfr.PublicKey)
		if err == nil && (l == nil || p == nil) {
			t.Fatal("verified without a list")
		}
	})
}
