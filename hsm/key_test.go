//go:build cgo

package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"rampart/hsm"
	"rampart/hsm/hsmtest"
)

func open(t *testing.T, uri string) *hsm.Key {
	t.Helper()
	k, err := hsm.Open(uri)
	if err != nil {
		t.Fatalf("Open(%s): %v", uri, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestECDSAKeysSignAndVerify(t *testing.T) {
	tk := hsmtest.Start(t)
	for _, c := range []struct {
		keyType string
		hash    crypto.Hash
	}{{"EC:prime256v1", crypto.SHA256}, {"EC:secp384r1", crypto.SHA384}} {
		label := strings.ReplaceAll(c.keyType, ":", "-")
		tk.Generate(t, c.keyType, label, "0"+string(rune('1'+len(label)%8)))
		k := open(t, tk.URI(label))
		pub, ok := k.Public().(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("%s: public key %T", c.keyType, k.Public())
		}
		h := c.hash.New()
		h.Write([]byte("firmware"))
		d := h.Sum(nil)
		sig, err := k.Sign(rand.Reader, d, c.hash)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Errorf("%s: the token's signature does not verify with crypto/ecdsa", c.keyType)
		}
		// nil options, as go-cose passes them: the digest's length names the hash.
		if sig, err := k.Sign(rand.Reader, d, nil); err != nil || !ecdsa.VerifyASN1(pub, d, sig) {
			t.Errorf("%s: nil options: %v", c.keyType, err)
		}
		if _, err := k.Sign(rand.Reader, d[:10], c.hash); err == nil {
			t.Errorf("%s: a short digest was signed", c.keyType)
		}
	}
}

// An Ed25519 key imported from a file signs exactly what the file key signs
// (Ed25519 is deterministic), through CKM_EDDSA.
func TestEd25519SameBytesAsFileKey(t *testing.T) {
	tk := hsmtest.Start(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	file := filepath.Join(t.TempDir(), "ed.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	tk.Import(t, file, "ed", "0e")
	k := open(t, tk.URI("ed"))
	if !priv.Public().(ed25519.PublicKey).Equal(k.Public()) {
		t.Fatalf("public key %x, file's %x", k.Public(), priv.Public())
	}
	msg := []byte("an image's signed region")
	got, err := k.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := priv.Sign(nil, msg, crypto.Hash(0))
	if string(got) != string(want) {
		t.Errorf("token signature %x\nfile signature  %x", got, want)
	}
	if _, err := k.Sign(nil, msg, crypto.SHA512); err == nil {
		t.Error("Ed25519ph was accepted; the token signs pure Ed25519 only")
	}
}

func TestRSASignsPSSAndPKCS1(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "rsa:2048", "rsa", "0a")
	k := open(t, tk.URI("rsa"))
	pub := k.Public().(*rsa.PublicKey)
	d := sha256.Sum256([]byte("m"))
	pss := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	sig, err := k.Sign(rand.Reader, d[:], pss)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, pss); err != nil {
		t.Errorf("PSS: %v", err)
	}
	d5 := sha512.Sum512([]byte("m"))
	sig, err = k.Sign(rand.Reader, d5[:], crypto.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA512, d5[:], sig); err != nil {
		t.Errorf("PKCS#1 v1.5: %v", err)
	}
	if _, err := k.Sign(rand.Reader, d[:], nil); err == nil {
		t.Error("RSA signed with nil options (no padding named)")
	}
}

// One key used from many goroutines: the session runs one operation at a time.
func TestConcurrentSigning(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "c", "0c")
	k := open(t, tk.URI("c"))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 8 {
				d := sha256.Sum256([]byte("x"))
				sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
					err = errors.New("signature does not verify")
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "k", "01")
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("0000\n"), 0o600)
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte(hsmtest.PIN), 0o644)
	os.Chmod(loose, 0o644)
	ok := tk.URI("k")
	for _, c := range []struct {
		name, uri string
		want      error
		says      string
	}{
		{"wrong PIN", strings.Replace(ok, tk.PINFile, wrong, 1), hsm.ErrPIN, "PIN refused"},
		{"PIN file open to others", strings.Replace(ok, tk.PINFile, loose, 1), hsm.ErrPINSource, "chmod 600"},
		{"PIN file missing", strings.Replace(ok, tk.PINFile, filepath.Join(dir, "none"), 1), hsm.ErrPINSource, "no such file"},
		{"missing token", strings.Replace(ok, "token="+tk.Label, "token=absent", 1), hsm.ErrNoToken, tk.Label},
		{"missing object", strings.Replace(ok, "object=k", "object=absent", 1), hsm.ErrNoObject, "object=absent"},
		{"no login", strings.Replace(ok, "&pin-source=file:"+tk.PINFile, "", 1), hsm.ErrNoObject, "pin-source"},
		{"missing module", strings.Replace(ok, tk.Module, "/nonexistent/libp11.so", 1), hsm.ErrModule, "/nonexistent"},
		{"not a module", strings.Replace(ok, tk.Module, wrong, 1), hsm.ErrModule, "not a loadable"},
		{"public key asked", strings.Replace(ok, "type=private", "type=public", 1), hsm.ErrURI, "type=public"},
		{"pin-value", ok + "&pin-value=1234", hsm.ErrURI, "pin-source"},
	} {
		k, err := hsm.Open(c.uri)
		if err == nil {
			k.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want %v saying %q", c.name, err, c.want, c.says)
		}
	}
	// After all the failures the right URI still opens (the module is intact).
	open(t, ok)
}

// TestImportECDSA: a key imported by ImportECDSA signs as the file key
// would verify, cannot be read back, and is not imported twice.
func TestImportECDSA(t *testing.T) {
	tk := hsmtest.Start(t)
	priv, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	uri := tk.URI("moved")
	if err := hsm.ImportECDSA(uri, priv); err != nil {
		t.Fatal(err)
	}
	k := open(t, uri)
	if !priv.PublicKey.Equal(k.Public()) {
		t.Fatal("the imported key's public half differs")
	}
	d := sha512.Sum384([]byte("m"))
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA384)
	if err != nil || !ecdsa.VerifyASN1(&priv.PublicKey, d[:], sig) {
		t.Fatalf("sign with the imported key: %v", err)
	}
	if err := hsm.ImportECDSA(uri, priv); !errors.Is(err, hsm.ErrAmbiguous) {
		t.Fatalf("imported twice: %v", err)
	}
	// The token refuses to give the private value out (pkcs11-tool's own view).
	out, _ := exec.Command("pkcs11-tool", "--module", tk.Module, "--token-label", tk.Label, "--login", "--pin", hsmtest.PIN,
		"--read-object", "--type", "privkey", "--label", "moved").CombinedOutput()
	if bytes.Contains(out, mustBytes(priv)) {
		t.Fatal("the private value was read out of the token")
	}
}

func mustBytes(k *ecdsa.PrivateKey) []byte {
	b, _ := k.Bytes()
	return b
}

// TestSessionLostReopens: a key whose session was closed under it (a token
// restart) opens a new one and signs; the server keeps working.
func TestSessionLostReopens(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "r", "07")
	k := open(t, tk.URI("r"))
	hsm.DropSessionForTest(k)
	d := sha256.Sum256([]byte("after"))
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("sign after the session was lost: %v", err)
	}
}
