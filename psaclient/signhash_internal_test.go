package psaclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"rampart/psa"
)

// A key whose policy names a hash Go does not know (SHA3-256 here) and a
// caller passing nil opts: Sign must refuse, never panic on the unknown
// hash's size.
func TestSignHashPolicyWithUnknownHash(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const sha3_256 psa.Algorithm = 0x02000011
	s := &Signer{pub: &k.PublicKey, attr: psa.KeyAttributes{Algorithm: psa.AlgECDSA(sha3_256)}}
	if _, err := s.signHash(nil, make([]byte, 32)); !errors.Is(err, psa.ErrInvalidArgument) {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
}
