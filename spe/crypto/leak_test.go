package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// recConn records every byte that crosses the client's end of the socket.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// material returns the SPE-side key material of the caller's key (test only:
// the test holds the SPE).
func (e *testSPE) material(t *testing.T, client int32, id psa.KeyID) []byte {
	t.Helper()
	sl, st := e.svc.keys.get(keyRef{client, id})
	if st != ipc.Success {
		t.Fatalf("key %d: %v", id, st)
	}
	return sl.material
}

// containsAnyWindow reports whether hay contains any 8-byte window of key.
func containsAnyWindow(hay, key []byte) bool {
	for i := 0; i+8 <= len(key); i++ {
		if bytes.Contains(hay, key[i:i+8]) {
			return true
		}
	}
	return false
}

func TestKeyNeverCrossesTheSocketUnlessExported(t *testing.T) {
	e := startSPE(t, "", nil)
	raw, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recConn{Conn: raw}
	c, err := psaclient.NewClient(ipc.NewConn(rc, ipc.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ec, err := c.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash | psa.UsageVerifyHash | psa.UsageCopy, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)})
	if err != nil {
		t.Fatal(err)
	}
	aes, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: psa.AlgGCM})
	if err != nil {
		t.Fatal(err)
	}
	hmk, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeHMAC, Bits: 256, Usage: psa.UsageSignMessage, Algorithm: psa.AlgHMAC(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	// A whole session of use: sign, verify, encrypt, MAC, copy, attributes,
	// public export, and refused exports.
	d := sha256.Sum256([]byte("hello"))
	sig, err := c.SignHash(ec, psa.AlgECDSA(psa.AlgSHA256), d[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyHash(ec, psa.AlgECDSA(psa.AlgSHA256), d[:], sig); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExportPublicKey(ec); err != nil {
		t.Fatal(err)
	}
	cp, err := c.CopyKey(ec, psa.KeyAttributes{Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AEADEncrypt(aes, psa.AlgGCM, make([]byte, 12), nil, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MACCompute(hmk, psa.AlgHMAC(psa.AlgSHA256), []byte("m")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []psa.KeyID{ec, aes, hmk, cp} {
		if _, err := c.ExportKey(id); !errors.Is(err, psa.ErrNotPermitted) {
			t.Fatalf("export of key %d: %v", id, err)
		}
		if _, err := c.KeyAttributes(id); err != nil {
			t.Fatal(err)
		}
	}
	captured := rc.bytes()
	if len(captured) < 1000 {
		t.Fatalf("captured only %d bytes", len(captured))
	}
	for _, id := range []psa.KeyID{ec, aes, hmk, cp} {
		if m := e.material(t, -1, id); containsAnyWindow(captured, m) {
			t.Errorf("key %d material appears on the client's socket", id)
		}
	}

	// Positive control: with EXPORT, exporting does put the key on the wire.
	exp, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Usage: psa.UsageExport})
	if err != nil {
		t.Fatal(err)
	}
	before := rc.bytes()
	if m := e.material(t, -1, exp); containsAnyWindow(before, m) {
		t.Fatal("exportable key seen before export")
	}
	got, err := c.ExportKey(exp)
	if err != nil {
		t.Fatal(err)
	}
	if m := e.material(t, -1, exp); !bytes.Equal(got, m) || !bytes.Contains(rc.bytes(), m) {
		t.Fatal("the capture does not see an exported key: the search is broken")
	}
}

func TestPersistentKeysSurviveRestartSealed(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789ABCDEF")
	var id psa.KeyID
	{
		e := startSPE(t, dir, nil)
		c := e.dial(t)
		var err error
		id, err = c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: 42,
			Usage: psa.UsageExport | psa.UsageEncrypt, Algorithm: psa.AlgCTR}, secret)
		if err != nil || id != 42 {
			t.Fatalf("import: %d %v", id, err)
		}
		if _, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: 42}, secret); !errors.Is(err, psa.ErrAlreadyExists) {
			t.Fatalf("second key 42: %v", err)
		}
		if _, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		e.srv.Shutdown()
	}
	state := filepath.Join(dir, "state")
	for _, f := range []string{filepath.Join(state, "huk"), filepath.Join(state, "keys", "ffffffff-0000002a.key")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(f)
		if containsAnyWindow(data, secret) {
			t.Errorf("%s holds the key in clear", f)
		}
	}
	file := filepath.Join(state, "keys", "ffffffff-0000002a.key")
	sealed, _ := os.ReadFile(file)

	e := startSPE(t, dir, nil)
	c := e.dial(t)
	got, err := c.ExportKey(42)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("after restart: %x %v", got, err)
	}
	if list, err := c.ListKeys(); err != nil || len(list) != 1 || list[0].ID != 42 {
		t.Fatalf("after restart the volatile key must be gone: %+v %v", list, err)
	}
	if err := c.PurgeKey(42); err != nil {
		t.Fatal(err)
	}
	// Tampering is detected.
	bad := append([]byte(nil), sealed...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(file, bad, 0o600)
	if _, err := c.ExportKey(42); !errors.Is(err, psa.ErrDataCorrupt) {
		t.Errorf("tampered key file: %v, want DATA_CORRUPT", err)
	}
	// A file moved to another client's name does not open either: the
	// owner and ID are bound into the seal.
	os.WriteFile(file, sealed, 0o600)
	os.WriteFile(filepath.Join(state, "keys", "fffffffe-0000002a.key"), sealed, 0o600)
	other := localClient(t, e.srv, -2)
	if _, err := other.ExportKey(42); !errors.Is(err, psa.ErrDataCorrupt) {
		t.Errorf("key file copied to client -2: %v, want DATA_CORRUPT", err)
	}
	// A key that no longer opens can still be destroyed, freeing its ID.
	if err := other.DestroyKey(42); err != nil {
		t.Errorf("destroy of a corrupted key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "keys", "fffffffe-0000002a.key")); !os.IsNotExist(err) {
		t.Errorf("corrupted key file still there: %v", err)
	}
	if err := c.DestroyKey(42); err != nil {
		t.Fatal(err)
	}
	// The per-client limit on stored keys.
	e.svc.keys.maxPers = 2
	for id := psa.KeyID(1); id <= 3; id++ {
		_, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: id}, secret[:16])
		if id <= 2 && err != nil {
			t.Fatal(err)
		}
		if id == 3 && !errors.Is(err, psa.ErrInsufficientStorage) {
			t.Errorf("third stored key over a limit of 2: %v", err)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("destroyed key file still there: %v", err)
	}
}
