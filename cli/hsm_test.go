package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rampart/fleet/ca"
	"rampart/hsm"
	"rampart/hsm/hsmtest"
)

// TestImageSignPKCS11 signs with keys held in SoftHSM2 (imported from the
// MCUboot vector keys): each image verifies with rampart and with imgtool's
// verify, and the Ed25519 image is byte for byte the file key's.
func TestImageSignPKCS11(t *testing.T) {
	tk := hsmtest.Start(t)
	dir := t.TempDir()
	common := []string{"-H", "0x200", "--pad-header", "-v", "1.2.3+4", "-S", "0x20000"}
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Log("RAMPART_IMGTOOL is not set: images are checked by rampart image verify only")
	}
	for i, name := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048"} {
		tk.Import(t, imageVec+name+".pem", name, "0"+string(rune('1'+i)))
		out := filepath.Join(dir, name+".hsm.bin")
		args := append(append([]string{"image", "sign", "-k", tk.URI(name)}, common...), imageVec+"input.bin", out)
		if code, _, errs := run(t, args...); code != 0 {
			t.Fatalf("%s: sign with the token: %d %s", name, code, errs)
		}
		if code, _, errs := run(t, "image", "verify", "-k", imageVec+name+".pub.pem", out); code != 0 {
			t.Errorf("%s: rampart image verify: %s", name, errs)
		}
		if tool != "" {
			if b, err := exec.Command("/usr/bin/python3", tool, "verify", "-k", imageVec+name+".pub.pem", out).CombinedOutput(); err != nil {
				t.Errorf("%s: imgtool verify: %v\n%s", name, err, b)
			}
		}
		if name != "ed25519" {
			continue
		}
		fileOut := filepath.Join(dir, name+".file.bin")
		if code, _, errs := run(t, append(append([]string{"image", "sign", "-k", imageVec + name + ".pem"}, common...), imageVec+"input.bin", fileOut)...); code != 0 {
			t.Fatal(errs)
		}
		a, _ := os.ReadFile(out)
		b, _ := os.ReadFile(fileOut)
		if !bytes.Equal(a, b) {
			t.Errorf("Ed25519: the token's image differs from the file key's")
		}
	}
}

// TestImageSignPKCS11Errors: each way a token key can be unusable gives its
// own message and exit code, and the PIN is never taken from the URI.
func TestImageSignPKCS11Errors(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "fw", "01")
	wrong := filepath.Join(t.TempDir(), "wrong-pin")
	os.WriteFile(wrong, []byte("9999"), 0o600)
	ok := tk.URI("fw")
	for _, c := range []struct {
		name, uri string
		code      int
		says      string
	}{
		{"wrong PIN", strings.Replace(ok, tk.PINFile, wrong, 1), ExitError, "PIN refused"},
		{"missing token", strings.Replace(ok, "token="+tk.Label, "token=nope", 1), ExitError, "no such token"},
		{"missing key", strings.Replace(ok, "object=fw", "object=nope", 1), ExitError, "no such key"},
		{"missing module", strings.Replace(ok, tk.Module, "/nonexistent.so", 1), ExitError, "PKCS#11 module"},
		{"PIN in the URI", ok + "&pin-value=1234", ExitUsage, "pin-value is refused"},
	} {
		out := filepath.Join(t.TempDir(), "out.bin")
		code, _, errs := run(t, "image", "sign", "-k", c.uri, "-H", "0x200", "--pad-header", "-v", "1.0.0", "-S", "0x20000", imageVec+"input.bin", out)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("%s: exit %d, %q; want %d saying %q", c.name, code, errs, c.code, c.says)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: an output was written", c.name)
		}
	}
}

// TestManufacturerKeyInToken: spe provision and fleet endorsements sign
// take the manufacturer key as a pkcs11: URI, and what they sign verifies
// with the key's public half.
func TestManufacturerKeyInToken(t *testing.T) {
	tk := hsmtest.Start(t)
	dir := t.TempDir()
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(mfr)
	keyPEM := filepath.Join(dir, "mfr.pem")
	os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	tk.Import(t, keyPEM, "mfr", "01")
	os.Remove(keyPEM) // from here on the key is only in the token
	pubDER, _ := x509.MarshalPKIXPublicKey(&mfr.PublicKey)
	pubPEM := filepath.Join(dir, "mfr.pub.pem")
	os.WriteFile(pubPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)

	endo := filepath.Join(dir, "device.endorsement.json")
	if code, out, errs := run(t, "spe", "provision", "--state-dir", filepath.Join(dir, "spe"), "--implementation-id", strings.Repeat("ab", 32),
		"--manufacturer-key", tk.URI("mfr"), "--manufacturer", "acme", "--endorsement", endo); code != ExitOK {
		t.Fatalf("provision: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "spe", "endorsement", "verify", "--manufacturer-key", pubPEM, endo+".cose"); code != ExitOK {
		t.Fatalf("the token-signed endorsement does not verify: %s", errs)
	}
	batch := filepath.Join(dir, "batch.cose")
	if code, _, errs := run(t, "fleet", "endorsements", "sign", "--key", tk.URI("mfr"), "--manufacturer", "acme", "--out", batch, endo); code != ExitOK {
		t.Fatalf("fleet endorsements sign: %s", errs)
	}
	if code, _, errs := run(t, "spe", "endorsement", "verify", "--manufacturer-key", pubPEM, batch); code != ExitOK {
		t.Fatalf("the token-signed batch does not verify: %s", errs)
	}
}

// TestServerCAToToken moves a file CA's key into SoftHSM2: the CA
// certificate is unchanged, the token's key opens it, a second move is
// refused, and ca-passphrase refuses a configuration whose key is in a token.
func TestServerCAToToken(t *testing.T) {
	tk := hsmtest.Start(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgPath, []byte("data_dir: data\n"), 0o600)
	pass := "kT3vQ9xWm2pL8rZs4yBn6cHd"
	fileCA, err := ca.Open(filepath.Join(dir, "data"), []byte(pass), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RAMPART_CA_PASSPHRASE": pass}
	uri := tk.URI("fleet-ca")
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_CA_PASSPHRASE": "wrong"}, "server", "ca-to-token", "--config", cfgPath, "--to", uri); code != ExitFailure || !strings.Contains(errs, "passphrase") {
		t.Fatalf("wrong passphrase: %d %q", code, errs)
	}
	code, out, errs := runCLI(t, env, "server", "ca-to-token", "--config", cfgPath, "--to", uri)
	if code != ExitOK || !strings.Contains(out, "set ca.key") {
		t.Fatalf("ca-to-token: %d %q %q", code, out, errs)
	}
	k, err := hsm.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	c, err := ca.OpenExternal(filepath.Join(dir, "data"), k, []byte(pass), ca.Options{Rand: rand.Reader})
	if err != nil || !c.Certificate().Equal(fileCA.Certificate()) {
		t.Fatalf("the moved CA: %v", err)
	}
	if code, _, errs := runCLI(t, env, "server", "ca-to-token", "--config", cfgPath, "--to", uri); code != ExitError || !strings.Contains(errs, "already holds") {
		t.Fatalf("second move: %d %q", code, errs)
	}
	os.WriteFile(cfgPath, []byte("data_dir: data\nca:\n  key: \""+uri+"\"\n"), 0o600)
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_CA_PASSPHRASE": pass, "RAMPART_CA_NEW_PASSPHRASE": pass + "x"}, "server", "ca-passphrase", "--config", cfgPath); code != ExitError || !strings.Contains(errs, "PKCS#11 token") {
		t.Fatalf("ca-passphrase with a token key: %d %q", code, errs)
	}
}
