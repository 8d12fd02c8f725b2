package crypto

import (
	"errors"
	"testing"

	"rampart/ipc"
	"rampart/psa"
)

// TestShutdownWipesKeys: Shutdown overwrites the material of every key in
// memory (volatile and cached persistent, of every kind), drops the
// key-store sealing key and the open operations, and every later call is
// refused, even for a persistent key whose sealed file is still on disk.
func TestShutdownWipesKeys(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	ids := map[string]psa.KeyID{}
	gen := func(name string, a psa.KeyAttributes) {
		t.Helper()
		id, err := c.GenerateKey(a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids[name] = id
	}
	gen("aes", psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Usage: psa.UsageExport})
	gen("hmac", psa.KeyAttributes{Type: psa.KeyTypeHMAC, Bits: 256, Usage: psa.UsageSignMessage, Algorithm: psa.AlgHMAC(psa.AlgSHA256)})
	gen("ecdsa", psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Usage: psa.UsageSignHash | psa.UsageExport,
		Lifetime: psa.LifetimePersistent, ID: 9, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	gen("ed25519", psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilyTwistedEdwards), Bits: 255, Usage: psa.UsageExport})
	gen("rsa", psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Bits: 2048, Usage: psa.UsageExport})
	if _, err := c.MACSignSetup(ids["hmac"], psa.AlgHMAC(psa.AlgSHA256)); err != nil {
		t.Fatal(err)
	}
	var materials [][]byte
	e.svc.keys.mu.RLock()
	for _, sl := range e.svc.keys.slots {
		materials = append(materials, sl.material)
	}
	e.svc.keys.mu.RUnlock()
	if len(materials) != len(ids) {
		t.Fatalf("%d slots in memory, want %d", len(materials), len(ids))
	}

	e.srv.Retire(Manifest.Name)

	for i, m := range materials {
		for _, b := range m {
			if b != 0 {
				t.Fatalf("key %d: material not overwritten", i)
			}
		}
	}
	if e.svc.KeysInMemory() != 0 || e.svc.OpenOperations() != 0 || e.svc.keys.aead != nil {
		t.Fatalf("after shutdown: %d keys, %d operations, sealing key kept %v", e.svc.KeysInMemory(), e.svc.OpenOperations(), e.svc.keys.aead != nil)
	}
	for name, id := range ids {
		if _, err := c.ExportKey(id); !errors.Is(err, ipc.ErrBadState) {
			t.Errorf("export %s after shutdown: %v", name, err)
		}
	}
	if _, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128}); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("generate after shutdown: %v", err)
	}
	// Called directly, the service refuses too, and loads nothing from disk.
	if sl, st := e.svc.keys.get(keyRef{-1, 9}); sl != nil || st != ipc.ErrBadState {
		t.Errorf("persistent key load after shutdown: %v", st)
	}
	e.svc.Shutdown() // idempotent
}
