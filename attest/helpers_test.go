package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"rampart/swcomponent"
)

// tfmKey is the TF-M vectors' attestation key (testdata/key.pem).
func tfmKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyPEM(readFile(t, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// sampleClaims is a full claim set for profile p, as a device would send.
func sampleClaims(p Profile) *Claims {
	return &Claims{
		Profile:                p,
		Nonce:                  seq(32, 0x40),
		ImplementationID:       seq(32, 0x80),
		ClientID:               -1,
		Lifecycle:              LifecycleSecured,
		BootSeed:               seq(32, 0xa0),
		CertificationReference: "1234567890123-12345",
		SoftwareComponents: []swcomponent.Component{
			{MeasurementType: "BL", MeasurementValue: seq(32, 1), Version: "2.1.0", SignerID: seq(32, 2), MeasurementDescription: "sha-256"},
			{MeasurementType: "PRoT", MeasurementValue: seq(48, 3), Version: "1.0.0+4", SignerID: seq(64, 4)},
			{MeasurementValue: seq(64, 5), SignerID: seq(32, 6)},
		},
		VerificationService: "https://verifier.example/psa",
	}
}

// signRaw signs an arbitrary payload as a tagged COSE_Sign1 with ES256, so
// tests can build tokens that Sign would refuse to make.
func signRaw(t testing.TB, key *ecdsa.PrivateKey, payload []byte) []byte {
	t.Helper()
	s, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cose.Sign1(rand.Reader, s, cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}}, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsMap returns c's payload as a generic map the test can edit.
func claimsMap(t testing.TB, c *Claims) map[any]any {
	t.Helper()
	if len(c.InstanceID) == 0 {
		c.InstanceID, _ = InstanceID(&tfmKey(t).PublicKey)
	}
	p, err := c.MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	var m map[any]any
	if err := cbor.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// key in a claims map decoded by cbor.Unmarshal: uint64 for positive keys.
func mkey(k int64) any {
	if k >= 0 {
		return uint64(k)
	}
	return k
}

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }

func newCoseSigner(key *ecdsa.PrivateKey) (cose.Signer, error) {
	return cose.NewSigner(cose.AlgorithmES256, key)
}
