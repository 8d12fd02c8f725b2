package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"testing"
)

// fixedKey is a constant P-256 key so fuzz seeds stay valid across runs.
func fixedKey() *ecdsa.PrivateKey {
	d := make([]byte, 32)
	d[30], d[31] = 0x5e, 0xed
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		panic(err)
	}
	return k
}

// FuzzVerify feeds Verify and Open hostile stores, seeded with real logs.
// Properties: no panic; a store Verify accepts, Open accepts too, and after
// Open drops any torn tail the store verifies with nothing torn and the
// same records.
func FuzzVerify(f *testing.F) {
	key := fixedKey()
	for _, every := range []int{0, 1, 3} {
		b := buildLog(f, key, 5, every).bytes()
		f.Add(b)
		f.Add(b[:len(b)-7])
	}
	f.Add([]byte{frameMagic, kindRecord, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(memOf(data), int64(len(data)), key.Public(), VerifyOptions{})
		if err != nil {
			return
		}
		m := memOf(data)
		if _, err := Open(m, key, Options{}); err != nil {
			t.Fatalf("Verify accepted the store, Open did not: %v", err)
		}
		again, err := Verify(m, int64(len(m.data)), key.Public(), VerifyOptions{})
		if err != nil || again.TornBytes != 0 || len(again.Records) != len(rep.Records) {
			t.Fatalf("after Open: %v", err)
		}
	})
}
