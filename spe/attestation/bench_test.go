package attestation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"rampart/attest"
)

// The token benchmarks run beside the raw ECDSA P-256 primitives they are
// built on, so the ratio is measured in one run:
//
//	go test ./spe/attestation -run '^$' -bench . -benchtime 2s
//
// Creation is the SPE's whole get_token path (claims, CBOR, COSE, sign);
// verification is attest.Verify with the key (envelope, signature, claims,
// nonce, instance ID, lifecycle).

func BenchmarkRawECDSAP256Sign(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("a token's worth of payload"))
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, k, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawECDSAP256Verify(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("a token's worth of payload"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, h[:])
	for b.Loop() {
		if !ecdsa.VerifyASN1(&k.PublicKey, h[:], sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkTokenCreate(b *testing.B) {
	r := newBenchRig(b)
	for b.Loop() {
		if _, err := r.svc.Token(-1, nonce32, attest.ProfileRFC9783); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenVerify(b *testing.B) {
	r := newBenchRig(b)
	tok, err := r.svc.Token(-1, nonce32, attest.ProfileRFC9783)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if _, err := attest.Verify(tok, attest.VerifyOptions{Key: r.pub, Nonce: nonce32}); err != nil {
			b.Fatal(err)
		}
	}
}
