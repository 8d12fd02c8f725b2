package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"rampart/psa"
)

func TestRoundTripEveryFamily(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)

	h, err := c.HashCompute(psa.AlgSHA256, []byte("abc"))
	want := sha256.Sum256([]byte("abc"))
	if err != nil || !bytes.Equal(h, want[:]) {
		t.Fatalf("hash: %x %v", h, err)
	}
	r, err := c.GenerateRandom(33)
	if err != nil || len(r) != 33 {
		t.Fatalf("random: %v", err)
	}

	aes, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: psa.AlgGCM})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.AEADEncrypt(aes, psa.AlgGCM, make([]byte, 12), []byte("aad"), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := c.AEADDecrypt(aes, psa.AlgGCM, make([]byte, 12), []byte("aad"), ct)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("gcm: %q %v", pt, err)
	}
	ct[0] ^= 1
	if _, err := c.AEADDecrypt(aes, psa.AlgGCM, make([]byte, 12), []byte("aad"), ct); !errors.Is(err, psa.ErrInvalidSignature) {
		t.Fatalf("tampered gcm: %v", err)
	}

	ec, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Usage: psa.UsageSignHash | psa.UsageVerifyHash, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.SignMessage(ec, psa.AlgECDSA(psa.AlgSHA256), []byte("msg"))
	if err != nil || len(sig) != 64 {
		t.Fatalf("sign: %d %v", len(sig), err)
	}
	if err := c.VerifyMessage(ec, psa.AlgECDSA(psa.AlgSHA256), []byte("msg"), sig); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExportKey(ec); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("export without EXPORT: %v", err)
	}
}
