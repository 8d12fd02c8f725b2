package rot_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"slices"
	"testing"

	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
)

// TestPSAKeys: P-256 and P-384 keys made in the TPM sign digests that
// verify with the public keys it returns; each takes its own handle of the
// PSA range; DestroyKey evicts one (PersistentHandles and tpm2_getcap
// agree), Clear the rest.
func TestPSAKeys(t *testing.T) {
	tp := swtpmtest.Start(t)
	r := open(t, tp)
	h256, pub256, err := r.GenerateECDSA(256)
	if err != nil {
		t.Fatal(err)
	}
	h384, pub384, err := r.GenerateECDSA(384)
	if err != nil {
		t.Fatalf("P-384 (swtpm should support it): %v", err)
	}
	if h256 == h384 || h256 < uint32(rot.PSAKeyFirst) || h384 > uint32(rot.PSAKeyLast) {
		t.Fatalf("handles 0x%x 0x%x", h256, h384)
	}
	d256 := sha256.Sum256([]byte("message"))
	d384 := sha512.Sum384([]byte("message"))
	for _, c := range []struct {
		h      uint32
		pub    *ecdsa.PublicKey
		hash   crypto.Hash
		digest []byte
	}{{h256, pub256, crypto.SHA256, d256[:]}, {h384, pub384, crypto.SHA384, d384[:]}, {h384, pub384, crypto.SHA256, d256[:]}} {
		sig, err := r.SignECDSA(c.h, c.hash, c.digest)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(c.pub, c.digest, sig) {
			t.Fatalf("0x%x %v: the TPM's signature does not verify", c.h, c.hash)
		}
	}
	if _, err := r.SignECDSA(h256, crypto.SHA256, d384[:]); err == nil {
		t.Fatal("a digest of the wrong length was signed")
	}
	if _, err := r.SignECDSA(uint32(rot.IAKHandle), crypto.SHA256, d256[:]); err == nil {
		t.Fatal("SignECDSA used a handle outside the PSA range")
	}
	if err := r.DestroyKey(h384, pub256); err != nil {
		t.Fatal(err)
	}
	if hs, _ := r.PersistentHandles(); !slices.Contains(hs, h384) {
		t.Fatal("DestroyKey with another key's public key evicted the key at the handle")
	}
	if err := r.DestroyKey(h256, pub256); err != nil {
		t.Fatal(err)
	}
	hs, err := r.PersistentHandles()
	if err != nil || slices.Contains(hs, h256) || !slices.Contains(hs, h384) {
		t.Fatalf("handles after destroying 0x%x: %x, %v", h256, hs, err)
	}
	if _, err := r.SignECDSA(h256, crypto.SHA256, d256[:]); err == nil {
		t.Fatal("a destroyed key signed")
	}
	r.Close() // swtpm serves one connection at a time
	if out := persistentHandles(t, tp); out != nil && (bytes.Contains(out, fmt.Appendf(nil, "0x%x", h256)) || !bytes.Contains(out, fmt.Appendf(nil, "0x%x", h384))) {
		t.Fatalf("tpm2_getcap after destroying 0x%x:\n%s", h256, out)
	}
	r = open(t, tp)
	if err := r.Clear(); err != nil {
		t.Fatal(err)
	}
	if hs, err := r.PersistentHandles(); err != nil || len(hs) != 0 {
		t.Fatalf("handles after Clear: %x, %v", hs, err)
	}
	r.Close()
	if out := persistentHandles(t, tp); out != nil && bytes.Contains(out, []byte("0x815201")) {
		t.Fatalf("tpm2_getcap lists PSA keys after Clear:\n%s", out)
	}
}
