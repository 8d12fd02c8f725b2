package attest

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/veraison/go-cose"
)

// FuzzParse feeds the token decoder hostile bytes. Seeds: the RFC 9783 and
// TF-M vectors in testdata, their Mac0 siblings, and Rampart tokens in every
// profile, with and without the release-key fuse claim. Properties: no panic; whatever parses re-encodes to claims that
// parse back equal; and verification never succeeds for a token that does
// not parse; Rampart's signature check agrees with go-cose's.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"rfc-sign1.cbor", "psa-iot-1_sign1.bin", "psa-2_0_0_sign1.bin", "psa-iot-1_mac0.bin", "psa-2_0_0_mac0.bin"} {
		f.Add(readFile(f, name))
	}
	key := tfmKey(f)
	for _, p := range Profiles {
		tok, err := Sign(sampleClaims(p), key, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		// The same with the release-key fuse claim, so its decoder is
		// fuzzed from a valid map (KeyFusesClaim).
		c := sampleClaims(p)
		c.KeyFuses = &KeyFuses{Pending: 0b100, Activated: 0b10, Retiring: 0b10, Revoked: 0b1}
		if tok, err = Sign(c, key, rand.Reader); err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	nonce := bytes.Repeat([]byte{0}, 64)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Differential check of the envelope decoder against go-cose: where
		// both accept, they must agree on algorithm, payload and signature.
		if env, err := decodeEnvelope(data); err == nil {
			var m cose.Sign1Message
			if m.UnmarshalCBOR(data) == nil {
				alg, aerr := m.Headers.Protected.Algorithm()
				if aerr != nil || alg != env.alg || !bytes.Equal(m.Payload, env.payload) || !bytes.Equal(m.Signature, env.signature) {
					t.Fatalf("envelope decoders disagree: alg %v/%v (%v)", env.alg, alg, aerr)
				}
			}
		}
		// Where Rampart accepts a signature, go-cose must too.
		if _, err := Verify(data, VerifyOptions{Key: &key.PublicKey, Nonce: nonce, AllowInstanceIDMismatch: true}); err == nil {
			var m cose.Sign1Message
			if m.UnmarshalCBOR(data) == nil {
				v, _ := cose.NewVerifier(cose.AlgorithmES256, &key.PublicKey)
				if err := m.Verify(nil, v); err != nil {
					t.Fatalf("Rampart verified a signature go-cose rejects: %v", err)
				}
			}
		}
		tok, err := Parse(data)
		if err != nil {
			if _, verr := Verify(data, VerifyOptions{Key: &key.PublicKey, Nonce: nonce}); verr == nil {
				t.Fatalf("Verify accepted a token Parse rejects (%v)", err)
			}
			return
		}
		p, err := tok.Claims.MarshalPayload()
		if err != nil {
			t.Fatalf("parsed claims do not re-encode: %v", err)
		}
		c, err := UnmarshalPayload(p)
		if err != nil {
			t.Fatalf("re-encoded claims do not parse: %v", err)
		}
		if !c.Equal(tok.Claims) {
			t.Fatalf("claims changed in a round trip:\n%+v\n%+v", tok.Claims, c)
		}
	})
}
