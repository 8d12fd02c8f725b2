package attest

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/veraison/go-cose"
)

// TestNonPreferredEncoding: RFC 9783 lets an attester send non-preferred
// CBOR. The signature covers the Sig_structure in deterministic encoding, so
// a token whose payload and signature byte strings carry over-long length
// heads still verifies, here and with go-cose.
func TestNonPreferredEncoding(t *testing.T) {
	key := tfmKey(t)
	c := sampleClaims(ProfileRFC9783)
	tok, err := Sign(c, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeEnvelope(tok)
	if err != nil {
		t.Fatal(err)
	}
	long := func(b []byte) []byte { // bstr with a 4-byte length head
		h := []byte{0x5a, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(h[1:], uint32(len(b)))
		return append(h, b...)
	}
	var odd []byte
	odd = append(odd, 0xd8, 18, 0x84) // tag 18 in a 1-byte argument
	odd = append(odd, long(env.protected)...)
	odd = append(odd, 0xa0)
	odd = append(odd, long(env.payload)...)
	odd = append(odd, long(env.signature)...)
	if bytes.Equal(odd, tok) {
		t.Fatal("test did not change the encoding")
	}
	if _, err := Verify(odd, VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce}); err != nil {
		t.Fatalf("non-preferred encoding rejected: %v", err)
	}
	// go-cose agrees that the signature is valid.
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(append([]byte{0xd2}, odd[2:]...)); err != nil {
		t.Fatal(err)
	}
	v, _ := cose.NewVerifier(cose.AlgorithmES256, &key.PublicKey)
	if err := m.Verify(nil, v); err != nil {
		t.Fatalf("go-cose: %v", err)
	}
}

// TestGoCoseAgrees: go-cose verifies every token Rampart verifies (the
// vectors and Rampart's own), which checks Rampart's Sig_structure digest.
func TestGoCoseAgrees(t *testing.T) {
	for _, v := range vectors {
		tok, opts := v.load(t)
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(tok); err != nil {
			t.Fatal(err)
		}
		cv, _ := cose.NewVerifier(cose.AlgorithmES256, opts.Key)
		if err := m.Verify(nil, cv); err != nil {
			t.Fatalf("%s: go-cose: %v", v.name, err)
		}
		env, err := decodeEnvelope(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(env.payload, m.Payload) || !bytes.Equal(env.signature, m.Signature) {
			t.Fatalf("%s: envelope decoders disagree", v.name)
		}
	}
}

func TestEnvelopeHeaders(t *testing.T) {
	key := tfmKey(t)
	payload, err := sampleClaimsWithID(t).MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cose.NewSigner(cose.AlgorithmES256, key)
	sign := func(h cose.Headers) []byte {
		tok, err := cose.Sign1(rand.Reader, s, h, payload, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	opts := VerifyOptions{Key: &key.PublicKey, Nonce: seq(32, 0x40)}
	// A kid in the unprotected header is ignored.
	tok := sign(cose.Headers{
		Protected:   cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256},
		Unprotected: cose.UnprotectedHeader{cose.HeaderLabelKeyID: []byte("iak")},
	})
	if _, err := Verify(tok, opts); err != nil {
		t.Fatalf("kid in unprotected header: %v", err)
	}
	// A critical parameter is refused.
	tok = sign(cose.Headers{Protected: cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelCritical: []any{int64(99)}, int64(99): 1,
	}})
	if _, err := Verify(tok, opts); err == nil {
		t.Fatal("critical header accepted")
	}
}

// TestASN1Signature checks the DER encoding of r||s against encoding/asn1.
func TestASN1Signature(t *testing.T) {
	for _, n := range []int{32, 48, 66} {
		for _, first := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
			r, s := seq(n, first), make([]byte, n) // s = 0 is the edge case of an empty integer
			s[n-1] = first
			var sig struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(asn1Signature(r, s), &sig); err != nil {
				t.Fatalf("n %d first %#x: %v", n, first, err)
			}
			if sig.R.Cmp(new(big.Int).SetBytes(r)) != 0 || sig.S.Cmp(new(big.Int).SetBytes(s)) != 0 {
				t.Fatalf("n %d first %#x: decoded %v %v", n, first, sig.R, sig.S)
			}
			want, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if !bytes.Equal(asn1Signature(r, s), want) {
				t.Fatalf("n %d first %#x: not DER", n, first)
			}
		}
	}
}
