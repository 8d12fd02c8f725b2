package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"regexp"
	"testing"
)

// TestDigestES256MatchesGeneral: the stack-buffer Sig_structure digest is
// the general path's, byte for byte, and a payload too large for the
// buffer falls back to it.
func TestDigestES256MatchesGeneral(t *testing.T) {
	tok, err := Sign(sampleClaims(ProfileRFC9783), tfmKey(t), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEnvelope(tok)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.digest()
	if err != nil {
		t.Fatal(err)
	}
	var got [32]byte
	if !e.digestES256(&got) || !bytes.Equal(got[:], want) {
		t.Fatalf("digestES256 = %x, digest = %x", got, want)
	}
	big := *e
	big.payload = make([]byte, sigStructureMax)
	if big.digestES256(&got) {
		t.Fatal("a Sig_structure larger than the buffer was accepted")
	}
}

// TestInstanceIDCacheFollowsKey: the remembered instance ID is used only
// for an equal key; another key, or the same key object with changed
// coordinates, gets its own ID.
func TestInstanceIDCacheFollowsKey(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i, k := range []*ecdsa.PublicKey{&k1.PublicKey, &k2.PublicKey, &k1.PublicKey, &k1.PublicKey} {
		got, err := instanceIDOfKey(k)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := InstanceID(k)
		if !bytes.Equal(got, want) {
			t.Fatalf("key %d: cached ID %x, want %x", i, got, want)
		}
	}
	// The caller's key object now holds k2's point: its ID must be k2's.
	mutable := &ecdsa.PublicKey{Curve: k1.Curve, X: k1.X, Y: k1.Y} //lint:ignore SA1019 the test changes the coordinates on purpose
	if _, err := instanceIDOfKey(mutable); err != nil {
		t.Fatal(err)
	}
	mutable.X, mutable.Y = k2.X, k2.Y //lint:ignore SA1019 as above
	got, _ := instanceIDOfKey(mutable)
	want, _ := InstanceID(&k2.PublicKey)
	if !bytes.Equal(got, want) {
		t.Fatalf("after the coordinates changed: ID %x, want %x", got, want)
	}
}

// TestIsEAN13MatchesPatterns: the loop accepts exactly what the patterns
// ^[0-9]{13}$ and ^[0-9]{13}-[0-9]{5}$ accept.
func TestIsEAN13MatchesPatterns(t *testing.T) {
	p13, p18 := regexp.MustCompile(`^[0-9]{13}$`), regexp.MustCompile(`^[0-9]{13}-[0-9]{5}$`)
	for _, s := range []string{"", "0604565272167", "0604565272167-10101", "060456527216", "06045652721670",
		"060456527216a", "0604565272167-1010", "0604565272167-101010", "0604565272167+10101", "0604565272167-1010x",
		"０604565272167", "0604565272167\n", "-604565272167-10101"} {
		if got, want := isEAN13(s, false), p13.MatchString(s); got != want {
			t.Errorf("isEAN13(%q, false) = %v, pattern %v", s, got, want)
		}
		if got, want := isEAN13(s, true), p18.MatchString(s); got != want {
			t.Errorf("isEAN13(%q, true) = %v, pattern %v", s, got, want)
		}
	}
}

// FuzzIsEAN13: the loop agrees with the patterns on any input.
func FuzzIsEAN13(f *testing.F) {
	f.Add("0604565272167")
	f.Add("0604565272167-10101")
	p13, p18 := regexp.MustCompile(`^[0-9]{13}$`), regexp.MustCompile(`^[0-9]{13}-[0-9]{5}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if isEAN13(s, false) != p13.MatchString(s) || isEAN13(s, true) != p18.MatchString(s) {
			t.Fatalf("%q: loop and pattern disagree", s)
		}
	})
}
