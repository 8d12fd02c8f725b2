package crypto

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
)

func openTPM(t *testing.T) *rot.TPM {
	t.Helper()
	r, err := openTPMB(t)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// openTPMB starts a swtpm (skipping without it) and connects to it.
func openTPMB(tb testing.TB) (*rot.TPM, error) {
	r, err := rot.Open(swtpmtest.Start(tb).Spec)
	if err == nil {
		tb.Cleanup(func() { r.Close() })
	}
	return r, err
}

var tpmKey = psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Lifetime: psa.LifetimePersistentTPM,
	Usage: psa.UsageSignHash | psa.UsageVerifyHash | psa.UsageExport | psa.UsageCopy, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)}

func withID(a psa.KeyAttributes, id psa.KeyID) psa.KeyAttributes { a.ID = id; return a }

// verifyRaw checks a PSA ECDSA signature (r||s) with a key exported by
// psa_export_public_key, outside the SPE.
func verifyRaw(t *testing.T, c *psaclient.Client, id psa.KeyID, digest, sig []byte) {
	t.Helper()
	b, err := c.ExportPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := psa.ParsePublicKey(psa.KeyTypeECCPublicKey(psa.ECCFamilySECPR1), b)
	if err != nil {
		t.Fatal(err)
	}
	n := len(sig) / 2
	if !ecdsa.Verify(pub.(*ecdsa.PublicKey), digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
		t.Fatal("the TPM key's signature does not verify with its exported public key")
	}
}

// TestTPMKeyLife: a persistent key of the TPM location is generated in the
// TPM (P-256 and P-384), signs hashes and messages that verify with its
// exported public key, is never exported, is held to its usage and
// algorithm policy by the SPE, survives a restart of the SPE, and
// destroying it evicts the TPM object.
func TestTPMKeyLife(t *testing.T) {
	r := openTPM(t)
	dir := t.TempDir()
	e := startSPEOptions(t, dir, nil, Options{Vault: r})
	c := e.dial(t)

	id, err := c.GenerateKey(withID(tpmKey, 7))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.PersistentHandles()
	if _, err := c.GenerateKey(withID(tpmKey, 7)); !errors.Is(err, psa.ErrAlreadyExists) {
		t.Fatalf("an ID in use: %v", err)
	}
	if after, _ := r.PersistentHandles(); len(after) != len(before) {
		t.Fatalf("a refused key left a TPM object: %x, before %x", after, before)
	}
	a, err := c.KeyAttributes(id)
	if err != nil || a.Lifetime != psa.LifetimePersistentTPM || a.Lifetime.Location() != psa.LocationRampartTPM {
		t.Fatalf("attributes %+v %v", a, err)
	}
	d := sha256.Sum256([]byte("message"))
	sig, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("sign hash: %d %v", len(sig), err)
	}
	verifyRaw(t, c, id, d[:], sig)
	if err := c.VerifyHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:], sig); err != nil {
		t.Fatalf("the SPE's own verification: %v", err)
	}
	msig, err := c.SignMessage(id, psa.AlgECDSA(psa.AlgSHA384), []byte("message"))
	d384 := sha512.Sum384([]byte("message"))
	if err != nil {
		t.Fatal(err)
	}
	verifyRaw(t, c, id, d384[:], msig)

	// Never exported, never copied out, whatever the usage flags say.
	if _, err := c.ExportKey(id); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("export of a TPM key: %v", err)
	}
	if _, err := c.CopyKey(id, psa.KeyAttributes{Usage: tpmKey.Usage, Algorithm: tpmKey.Algorithm}); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("copy of a TPM key: %v", err)
	}
	// The SPE's policy check, as for local keys.
	verifyOnly, err := c.GenerateKey(psa.KeyAttributes{Type: tpmKey.Type, Bits: 256, Lifetime: psa.LifetimePersistentTPM, ID: 8,
		Usage: psa.UsageVerifyHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignHash(verifyOnly, psa.AlgECDSA(psa.AlgSHA256), d[:]); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("sign without SIGN_HASH: %v", err)
	}
	sha256Only, err := c.GenerateKey(psa.KeyAttributes{Type: tpmKey.Type, Bits: 384, Lifetime: psa.LifetimePersistentTPM, ID: 9,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatalf("P-384 in the TPM: %v", err)
	}
	if _, err := c.SignHash(sha256Only, psa.AlgECDSA(psa.AlgSHA384), d384[:]); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("sign with an algorithm the policy does not name: %v", err)
	}
	sig384, err := c.SignHash(sha256Only, psa.AlgECDSA(psa.AlgSHA256), d[:])
	if err != nil || len(sig384) != 96 {
		t.Fatalf("P-384 sign: %d %v", len(sig384), err)
	}
	verifyRaw(t, c, sha256Only, d[:], sig384)

	// What the TPM cannot hold is refused before it is asked.
	for _, bad := range []psa.KeyAttributes{
		{Type: tpmKey.Type, Bits: 256, Lifetime: psa.LifetimePersistentTPM, ID: 10, Usage: psa.UsageSignHash, Algorithm: psa.AlgDeterministicECDSA(psa.AlgSHA256)},
		{Type: psa.KeyTypeAES, Bits: 128, Lifetime: psa.LifetimePersistentTPM, ID: 10, Usage: psa.UsageEncrypt, Algorithm: psa.AlgGCM},
		{Type: tpmKey.Type, Bits: 521, Lifetime: psa.LifetimePersistentTPM, ID: 10, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)},
		{Type: tpmKey.Type, Bits: 256, Lifetime: psa.LifetimeFromPersistenceAndLocation(psa.LifetimeVolatile, psa.LocationRampartTPM), Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)},
	} {
		if _, err := c.GenerateKey(bad); !errors.Is(err, psa.ErrNotSupported) {
			t.Errorf("generate %+v: %v, want NOT_SUPPORTED", bad, err)
		}
	}
	if _, err := c.ImportKey(withID(tpmKey, 11), make([]byte, 32)); !errors.Is(err, psa.ErrNotSupported) {
		t.Fatalf("import into the TPM: %v", err)
	}
	// The sealed file holds the handle and the public key, nothing more.
	files, _ := filepath.Glob(filepath.Join(dir, "state", "keys", "*.key"))
	if len(files) != 3 {
		t.Fatalf("%d sealed key files, want 3", len(files))
	}

	// A restarted SPE uses the same TPM key.
	e.srv.Shutdown()
	e = startSPEOptions(t, dir, nil, Options{Vault: r})
	c = e.dial(t)
	sig, err = c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:])
	if err != nil {
		t.Fatalf("sign after a restart: %v", err)
	}
	verifyRaw(t, c, id, d[:], sig)

	// Destroy evicts the TPM object.
	before, _ = r.PersistentHandles()
	if err := c.DestroyKey(id); err != nil {
		t.Fatal(err)
	}
	after, _ := r.PersistentHandles()
	if len(after) != len(before)-1 {
		t.Fatalf("TPM handles %x before destroy, %x after", before, after)
	}
	if _, err := c.KeyAttributes(id); !errors.Is(err, psa.ErrInvalidHandle) {
		t.Fatalf("a destroyed key: %v", err)
	}
	for _, k := range []psa.KeyID{verifyOnly, sha256Only} {
		if err := c.DestroyKey(k); err != nil {
			t.Fatal(err)
		}
	}
	if hs, err := r.PersistentHandles(); err != nil || len(hs) != 0 {
		t.Fatalf("TPM handles after destroying every key: %x %v", hs, err)
	}
}

// TestTPMKeyStateOnAnotherTPM: the key store copied to a device with
// another TPM (here with the same file HUK, so the sealed reference
// opens: the platform's TPM-derived HUK would not even open it) cannot
// sign: the handle is empty there, or holds another key whose signature
// does not match the sealed public key.
func TestTPMKeyStateOnAnotherTPM(t *testing.T) {
	ra := openTPM(t)
	dirA := t.TempDir()
	e := startSPEOptions(t, dirA, nil, Options{Vault: ra})
	if _, err := e.dial(t).GenerateKey(withID(tpmKey, 7)); err != nil {
		t.Fatal(err)
	}
	e.srv.Shutdown()

	rb := openTPM(t)
	dirB := t.TempDir()
	copyPrivate(t, dirA, dirB)
	eb := startSPEOptions(t, dirB, nil, Options{Vault: rb})
	cb := eb.dial(t)
	d := sha256.Sum256([]byte("message"))
	if _, err := cb.SignHash(7, psa.AlgECDSA(psa.AlgSHA256), d[:]); !errors.Is(err, psa.ErrHardwareFailure) {
		t.Fatalf("sign on another TPM with nothing at the handle: %v", err)
	}
	// Another key at the same handle is caught by the sealed public key.
	h, _, err := rb.GenerateECDSA(256)
	if err != nil || h != uint32(rot.PSAKeyFirst) {
		t.Fatalf("0x%x %v", h, err)
	}
	if _, err := cb.SignHash(7, psa.AlgECDSA(psa.AlgSHA256), d[:]); !errors.Is(err, psa.ErrCorruptionDetected) {
		t.Fatalf("sign with another key at the handle: %v", err)
	}
	// Destroying the copied key removes its reference, not the other key.
	if err := cb.DestroyKey(7); err != nil {
		t.Fatal(err)
	}
	if hs, _ := rb.PersistentHandles(); !slices.Contains(hs, h) {
		t.Fatal("destroying a copied reference evicted another key at its handle")
	}
	if hs, _ := ra.PersistentHandles(); !slices.Contains(hs, uint32(rot.PSAKeyFirst)) {
		t.Fatal("the first TPM lost its key")
	}
}

// TestTPMKeyWithoutTPM: without a TPM the location is NOT_SUPPORTED (PSA:
// a lifetime whose location the implementation does not support).
func TestTPMKeyWithoutTPM(t *testing.T) {
	c := startSPE(t, "", nil).dial(t)
	if _, err := c.GenerateKey(withID(tpmKey, 7)); !errors.Is(err, psa.ErrNotSupported) {
		t.Fatalf("a TPM key without a TPM: %v", err)
	}
	other := withID(tpmKey, 7)
	other.Lifetime = psa.LifetimeFromPersistenceAndLocation(psa.LifetimePersistent, 0x800002)
	if _, err := c.GenerateKey(other); !errors.Is(err, psa.ErrNotSupported) {
		t.Fatalf("an unknown vendor location: %v", err)
	}
}

// copyPrivate copies the state directory src into dst as a backup would,
// keeping its files private.
func copyPrivate(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dst {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTPMKeysFillTheTPM: when the TPM has no room for another key (swtpm's
// NV memory holds about 65), generate answers INSUFFICIENT_STORAGE and
// leaves no sealed file; destroying a key makes room again.
func TestTPMKeysFillTheTPM(t *testing.T) {
	r := openTPM(t)
	dir := t.TempDir()
	c := startSPEOptions(t, dir, nil, Options{Vault: r, Limits: Limits{PersistentKeysPerClient: 1000}}).dial(t)
	var made []psa.KeyID
	for id := psa.KeyID(1); ; id++ {
		_, err := c.GenerateKey(withID(tpmKey, id))
		if errors.Is(err, psa.ErrInsufficientStorage) {
			break
		}
		if err != nil || id > 300 {
			t.Fatalf("key %d: %v", id, err)
		}
		made = append(made, id)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "state", "keys", "*.key"))
	if len(made) == 0 || len(files) != len(made) {
		t.Fatalf("%d keys made, %d sealed files", len(made), len(files))
	}
	t.Logf("the TPM holds %d PSA keys", len(made))
	if err := c.DestroyKey(made[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateKey(withID(tpmKey, 999)); err != nil {
		t.Fatalf("after destroying one: %v", err)
	}
}

// TestTPMKeysConcurrent: clients generate and sign with TPM keys at the
// same time (one TPM connection, one command at a time): every key gets
// its own handle and every signature verifies.
func TestTPMKeysConcurrent(t *testing.T) {
	r := openTPM(t)
	e := startSPEOptions(t, "", nil, Options{Vault: r})
	d := sha256.Sum256([]byte("message"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		c := e.dial(t)
		wg.Go(func() {
			for k := range 3 {
				id, err := c.GenerateKey(withID(tpmKey, psa.KeyID(10*g+k+1)))
				if err != nil {
					errs <- err
					return
				}
				sig, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:])
				if err == nil {
					err = c.VerifyHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:], sig)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if hs, err := r.PersistentHandles(); err != nil || len(hs) != 12 {
		t.Fatalf("TPM handles %x %v, want 12", hs, err)
	}
}

// TestTPMKeyOrphanSwept: a TPM key that no sealed file names (a power cut
// between TPM2_EvictControl and the sealed file's rename leaves one) is
// destroyed at the next start; the keys the store names stay and sign.
func TestTPMKeyOrphanSwept(t *testing.T) {
	r := openTPM(t)
	dir := t.TempDir()
	e := startSPEOptions(t, dir, nil, Options{Vault: r})
	c := e.dial(t)
	id, err := c.GenerateKey(withID(tpmKey, 7))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Shutdown()
	orphan, _, err := r.GenerateECDSA(256) // made in the TPM, never sealed
	if err != nil {
		t.Fatal(err)
	}
	e = startSPEOptions(t, dir, nil, Options{Vault: r})
	c = e.dial(t)
	hs, err := r.KeyHandles()
	if err != nil || len(hs) != 1 || slices.Contains(hs, orphan) {
		t.Fatalf("TPM keys after a restart: %x %v (orphan 0x%x)", hs, err, orphan)
	}
	d := sha256.Sum256([]byte("message"))
	if _, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:]); err != nil {
		t.Fatalf("the sealed key after the sweep: %v", err)
	}
}

// TestTPMKeySweepSparesForeignState: a state directory whose sealed files
// do not open with this TPM's root (a copy from another device, started
// by mistake on this TPM) destroys none of this TPM's keys at start.
func TestTPMKeySweepSparesForeignState(t *testing.T) {
	r := openTPM(t)
	dir := t.TempDir()
	e := startSPEOptions(t, dir, nil, Options{Vault: r})
	if _, err := e.dial(t).GenerateKey(withID(tpmKey, 7)); err != nil {
		t.Fatal(err)
	}
	e.srv.Shutdown()
	foreign := t.TempDir()
	copyPrivate(t, dir, foreign)
	// Another device's root: this store's files do not open under it.
	huk := make([]byte, HUKSize)
	huk[0] = 1
	if err := os.WriteFile(filepath.Join(foreign, "state", "huk"), huk, 0o600); err != nil {
		t.Fatal(err)
	}
	startSPEOptions(t, foreign, nil, Options{Vault: r}).srv.Shutdown()
	if hs, err := r.KeyHandles(); err != nil || len(hs) != 1 {
		t.Fatalf("TPM keys after a foreign state directory started: %x %v", hs, err)
	}
}
