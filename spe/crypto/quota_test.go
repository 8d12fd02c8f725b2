package crypto

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"

	"rampart/ipc"
	"rampart/psa"
)

// clientsInTurn maps the n-th connection to the client ids[n]: one process
// plays several clients over the real socket.
func clientsInTurn(ids ...int32) func(int, int) (int32, error) {
	var n atomic.Int32
	return func(int, int) (int32, error) { return ids[int(n.Add(1)-1)%len(ids)], nil }
}

// TestVolatileKeyQuotas: a client's volatile keys are bounded in number and
// in bytes over all its connections, a client at its quota does not stop
// another, and closing a connection or destroying a key frees its share. It
// failed when the only bound was the pool of 4,096 slots all clients share.
func TestVolatileKeyQuotas(t *testing.T) {
	e := startSPEWith(t, "", clientsInTurn(-1, -2, -1, -3), Limits{VolatileKeysPerClient: 8, VolatileBytesPerClient: 1024, VolatileKeys: 20})
	a, b, a2, c := e.dial(t), e.dial(t), e.dial(t), e.dial(t)
	aes := psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128}
	var first psa.KeyID
	for i := range 8 {
		id, err := a.GenerateKey(aes)
		if err != nil {
			t.Fatalf("key %d of client -1: %v", i, err)
		}
		if i == 0 {
			first = id
		}
	}
	if _, err := a.GenerateKey(aes); !errors.Is(err, ipc.ErrInsufficientMemory) {
		t.Fatalf("ninth key: %v", err)
	}
	if _, err := a2.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRawData}, []byte{1}); !errors.Is(err, ipc.ErrInsufficientMemory) {
		t.Fatalf("ninth key on the client's second connection: %v", err)
	}
	for i := range 8 {
		if _, err := b.GenerateKey(aes); err != nil {
			t.Fatalf("key %d of client -2 while -1 is at its quota: %v", i, err)
		}
	}
	// Bytes: 1024 per client.
	raw := psa.KeyAttributes{Type: psa.KeyTypeRawData}
	if _, err := c.ImportKey(raw, make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportKey(raw, make([]byte, 600)); !errors.Is(err, ipc.ErrInsufficientMemory) {
		t.Fatalf("over the byte quota: %v", err)
	}
	if _, err := c.ImportKey(raw, make([]byte, 424)); err != nil {
		t.Fatalf("up to the byte quota: %v", err)
	}
	if k, n := e.svc.keys.volatileUsage(-3); k != 2 || n != 1024 {
		t.Fatalf("client -3 holds %d keys, %d bytes", k, n)
	}
	// Destroying a key frees its share; so does closing the connection.
	if err := a.DestroyKey(first); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.GenerateKey(aes); err != nil {
		t.Fatalf("after destroying one: %v", err)
	}
	a.Close()
	waitFor(t, "client -1's first connection's keys to go", func() bool { k, _ := e.svc.keys.volatileUsage(-1); return k == 1 })
	for i := range 7 {
		if _, err := a2.GenerateKey(aes); err != nil {
			t.Fatalf("after the connection closed, key %d: %v", i, err)
		}
	}
	// The pool all clients share still bounds the total.
	if e.svc.keys.volatile > 20 {
		t.Fatalf("%d volatile keys, pool of 20", e.svc.keys.volatile)
	}
}

// TestKeySizeLimits: keys larger than the service supports for their type
// are refused with NOT_SUPPORTED before they take memory; the largest
// supported size works. It failed when raw, HMAC and derivation keys could
// be as large as an IPC vector (1 MiB) each.
func TestKeySizeLimits(t *testing.T) {
	c := startSPE(t, "", nil).dial(t)
	for _, typ := range []psa.KeyType{psa.KeyTypeRawData, psa.KeyTypeHMAC, psa.KeyTypeDerive} {
		a := psa.KeyAttributes{Type: typ, Usage: psa.UsageDerive}
		if _, err := c.ImportKey(a, make([]byte, maxSymmetricKeyBytes)); err != nil {
			t.Fatalf("type 0x%04x, %d bytes: %v", uint16(typ), maxSymmetricKeyBytes, err)
		}
		for _, n := range []int{maxSymmetricKeyBytes + 1, 1 << 20} {
			if _, err := c.ImportKey(a, make([]byte, n)); !errors.Is(err, ipc.ErrNotSupported) {
				t.Fatalf("type 0x%04x, %d bytes: %v", uint16(typ), n, err)
			}
		}
	}
	// A derived key gets the same bound.
	hkdf := psa.AlgHKDF(psa.AlgSHA256)
	base, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeDerive, Usage: psa.UsageDerive, Algorithm: hkdf}, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeriveKey(base, hkdf, nil, nil, psa.KeyAttributes{Type: psa.KeyTypeHMAC, Bits: 8 * (maxSymmetricKeyBytes + 8)}); !errors.Is(err, ipc.ErrNotSupported) {
		t.Fatalf("derived HMAC key over the limit: %v", err)
	}
	// RSA: a modulus over 4096 bits, and a DER too long to be one.
	big4608 := new(big.Int).Lsh(big.NewInt(1), 4607)
	big4608.Add(big4608, big.NewInt(1))
	pub := x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: big4608, E: 65537})
	if _, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAPublicKey}, pub); !errors.Is(err, ipc.ErrNotSupported) {
		t.Fatalf("4608-bit RSA public key: %v", err)
	}
	if _, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair}, make([]byte, maxRSAPairDER+1)); !errors.Is(err, ipc.ErrNotSupported) {
		t.Fatalf("oversized RSA key pair: %v", err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair}, x509.MarshalPKCS1PrivateKey(k)); err != nil {
		t.Fatalf("2048-bit RSA key pair: %v", err)
	}
}
