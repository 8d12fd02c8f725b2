package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"

	"rampart/psa"
)

// GCM with shortened tags: Go's own GCM (12..16-byte tags) is the reference
// where it exists; 4 and 8 bytes are by definition the full tag truncated.
func TestGCMShortenedTags(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	blk, _ := aes.NewCipher(key)
	full, _ := cipher.NewGCM(blk)
	nonce, aad, msg := make([]byte, 12), []byte("aad"), []byte("a message of some length, 45 bytes long.....")
	for _, tl := range []int{4, 8, 12, 13, 14, 15, 16} {
		got, err := gcm(blk, true, nonce, aad, msg, tl)
		if err != nil {
			t.Fatal(err)
		}
		want := full.Seal(nil, nonce, msg, aad)[:len(msg)+tl]
		if tl >= 12 {
			g, _ := cipher.NewGCMWithTagSize(blk, tl)
			want = g.Seal(nil, nonce, msg, aad)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("tag %d: seal differs", tl)
		}
		pt, err := gcm(blk, false, nonce, aad, got, tl)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("tag %d: open: %v", tl, err)
		}
		for _, i := range []int{0, len(got) - 1} {
			bad := append([]byte(nil), got...)
			bad[i] ^= 0x80
			if _, err := gcm(blk, false, nonce, aad, bad, tl); err == nil {
				t.Fatalf("tag %d: tampered byte %d accepted", tl, i)
			}
		}
		if _, err := gcm(blk, false, nonce, []byte("other"), got, tl); err == nil {
			t.Fatalf("tag %d: wrong AAD accepted", tl)
		}
	}
}

// CTR and CBC through the service, checked against crypto/cipher with the
// IV the service chose.
func TestCipherModesAgainstStdlib(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	key := bytes.Repeat([]byte{3}, 32)
	blk, _ := aes.NewCipher(key)
	for _, alg := range []psa.Algorithm{psa.AlgCTR, psa.AlgCBCPKCS7, psa.AlgCBCNoPad} {
		id, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: alg}, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 64} {
			if alg == psa.AlgCBCNoPad && n%16 != 0 {
				if _, err := c.CipherEncrypt(id, alg, make([]byte, n)); !errors.Is(err, psa.ErrInvalidArgument) {
					t.Errorf("CBC without padding, %d bytes: %v", n, err)
				}
				continue
			}
			msg := bytes.Repeat([]byte{byte(n)}, n)
			out, err := c.CipherEncrypt(id, alg, msg)
			if err != nil {
				t.Fatalf("alg 0x%08x, %d bytes: %v", alg, n, err)
			}
			iv, ct := out[:16], out[16:]
			var want []byte
			switch alg {
			case psa.AlgCTR:
				want = make([]byte, n)
				cipher.NewCTR(blk, iv).XORKeyStream(want, msg)
			case psa.AlgCBCPKCS7:
				pad := 16 - n%16
				p := append(append([]byte(nil), msg...), bytes.Repeat([]byte{byte(pad)}, pad)...)
				want = make([]byte, len(p))
				cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, p)
			default:
				want = make([]byte, n)
				cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, msg)
			}
			if !bytes.Equal(ct, want) {
				t.Fatalf("alg 0x%08x, %d bytes: ciphertext differs from crypto/cipher", alg, n)
			}
			back, err := c.CipherDecrypt(id, alg, out)
			if err != nil || !bytes.Equal(back, msg) {
				t.Fatalf("alg 0x%08x, %d bytes: decrypt %v", alg, n, err)
			}
		}
	}
	// A wrong padding byte is INVALID_PADDING.
	id, _ := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageDecrypt, Algorithm: psa.AlgCBCPKCS7}, key)
	iv := make([]byte, 16)
	block := bytes.Repeat([]byte{0x11}, 16) // pads with 0x11 > 16
	ct := make([]byte, 16)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(ct, block)
	if _, err := c.CipherDecrypt(id, psa.AlgCBCPKCS7, append(iv, ct...)); !errors.Is(err, psa.ErrInvalidPadding) {
		t.Errorf("bad padding: %v", err)
	}
}
