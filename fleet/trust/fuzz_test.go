package trust

import (
	"crypto/ecdsa"
	"os"
	"testing"

	"rampart/attest"
)

// FuzzVerifyEndorsements feeds hostile signed endorsement lists (an admin
// upload) to the fleet's verifier: no panic, and nothing verifies without
// naming a trusted manufacturer and returning the list. The format's own
// decoder is fuzzed in attest (FuzzVerifySignedEndorsements).
func FuzzVerifyEndorsements(f *testing.F) {
	acme, iak := key(f), key(f)
	l := &attest.EndorsementList{}
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, Comment: "one"})
	signed := signList(f, l, "acme", acme)
	f.Add(signed)
	f.Add([]byte(`{}`))
	f.Add(signed[:len(signed)/2])
	for _, name := range []string{"signed-endorsements.cose", "signed-endorsements-legacy.json"} {
		b, err := os.ReadFile("../../attest/testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	trusted := map[string]*ecdsa.PublicKey{"acme": &acme.PublicKey}
	f.Fuzz(func(t *testing.T, data []byte) {
		mfr, list, err := VerifyEndorsements(data, trusted)
		if err == nil && (mfr != "acme" || list == nil) {
			t.Fatalf("verified: manufacturer %q, list %v", mfr, list)
		}
	})
}
