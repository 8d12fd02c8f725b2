package trust

import (
	"crypto/ecdsa"
	"crypto/rand"
	"testing"

	"rampart/attest"
)

// FuzzVerifyEndorsements feeds hostile signed endorsement lists (an admin
// upload) to the verifier: no panic, and nothing verifies without naming a
// trusted manufacturer and returning the list.
func FuzzVerifyEndorsements(f *testing.F) {
	acme, iak := key(f), key(f)
	l := &attest.EndorsementList{}
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, Comment: "one"})
	signed, err := SignEndorsements(l, "acme", acme, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(`{}`))
	f.Add(signed[:len(signed)/2])
	trusted := map[string]*ecdsa.PublicKey{"acme": &acme.PublicKey}
	f.Fuzz(func(t *testing.T, data []byte) {
		mfr, list, err := VerifyEndorsements(data, trusted)
		if err == nil && (mfr != "acme" || list == nil) {
			t.Fatalf("verified: manufacturer %q, list %v", mfr, list)
		}
	})
}
