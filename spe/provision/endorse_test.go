package provision_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
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

// The provision wrappers speak attest's signed endorsement format; its
// refusals are tested in attest (endorsements_signed_test.go).
func TestVerifyEndorsementsIsAttestFormat(t *testing.T) {
	mfr := key(elliptic.P384(), "manufacturer")
	iak := key(elliptic.P256(), "iak")
	var l attest.EndorsementList
	if err := l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, ImplementationID: bytes.Repeat([]byte{1}, 32)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l.WriteJSON(&buf)
	signed, err := attest.SignEndorsements(buf.Bytes(), "acme", mfr, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, payload, err := provision.VerifyEndorsements(signed, &mfr.PublicKey)
	if err != nil || !bytes.Equal(payload, buf.Bytes()) || got.Len() != 1 {
		t.Fatalf("VerifyEndorsements: %v", err)
	}
	if _, _, err := provision.VerifyEndorsements(signed, &key(elliptic.P384(), "other").PublicKey); !errors.Is(err, provision.ErrEndorsementSignature) {
		t.Fatalf("other key: %v", err)
	}
}

func TestRunRefusesUnusableManufacturerKey(t *testing.T) {
	for name, opt := range map[string]provision.Options{
		"no key": {},
		"P-224":  {Manufacturer: key(elliptic.P224(), "m")},
		"name":   {Manufacturer: key(elliptic.P256(), "m"), ManufacturerName: strings.Repeat("a", attest.MaxTextLen+1)},
		"utf8":   {Manufacturer: key(elliptic.P256(), "m"), ManufacturerName: "acme\xff"},
	} {
		// The key is checked before the platform is touched.
		if _, err := provision.Run(nil, opt); err == nil || !strings.Contains(err.Error(), "manufacturer") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
