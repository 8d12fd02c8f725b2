package image

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestAESKeyWrapRFC3394 checks the key wrap against RFC 3394's vectors
// (§4.1 and §4.6) and that a wrong KEK or a flipped bit is refused.
func TestAESKeyWrapRFC3394(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct{ kek, key, wrapped string }{
		{"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
	} {
		w, err := aesKeyWrap(h(c.kek), h(c.key))
		if err != nil || !bytes.Equal(w, h(c.wrapped)) {
			t.Fatalf("wrap: %x, %v; want %s", w, err, c.wrapped)
		}
		k, err := aesKeyUnwrap(h(c.kek), w)
		if err != nil || !bytes.Equal(k, h(c.key)) {
			t.Fatalf("unwrap: %x, %v", k, err)
		}
		w[3] ^= 1
		if _, err := aesKeyUnwrap(h(c.kek), w); err == nil {
			t.Fatal("a damaged wrapped key unwrapped")
		}
		w[3] ^= 1
		kek := h(c.kek)
		kek[0] ^= 1
		if _, err := aesKeyUnwrap(kek, w); err == nil {
			t.Fatal("a wrong KEK unwrapped")
		}
	}
}
