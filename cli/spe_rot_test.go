package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/image"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/rot/swtpmtest"
)

// TestSPEProvisionAttestWithTPM: spe provision --rot tpm: puts the device's
// keys in swtpm; spe attest (in process, $RAMPART_SPE_ROT) makes a token
// the TPM signs, which verifies against the endorsement; without the TPM
// the state directory does not open; a bad --rot is a usage error.
func TestSPEProvisionAttestWithTPM(t *testing.T) {
	tp := swtpmtest.Start(t)
	dir := t.TempDir()
	bootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(mfr)
	mfrPath := filepath.Join(dir, "mfr.pem")
	os.WriteFile(mfrPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	bootPub, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	bootPubPath := filepath.Join(dir, "boot.pub.pem")
	os.WriteFile(bootPubPath, bootPub, 0o600)
	devDir, stateDir := factoryDevice(t, dir, speImage(t, bootKey)), filepath.Join(dir, "state")

	endo := filepath.Join(dir, "endorsement.json")
	if code, _, errs := runCLI(t, nil, "spe", "provision", "--rot", "tpm", "--state-dir", stateDir, "--implementation-id", strings.Repeat("ab", 32),
		"--manufacturer-key", mfrPath, "--endorsement", endo); code != ExitUsage || !strings.Contains(errs, "--rot") {
		t.Fatalf("bad --rot: %d %q", code, errs)
	}
	if code, out, errs := runCLI(t, nil, "spe", "provision", "--rot", tp.Spec, "--state-dir", stateDir, "--device", devDir, "--implementation-id", strings.Repeat("ab", 32),
		"--boot-key", bootPubPath, "--manufacturer-key", mfrPath, "--endorsement", endo); code != ExitOK {
		t.Fatalf("provision: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "huk")); !os.IsNotExist(err) {
		t.Fatalf("a HUK file in a TPM-rooted state directory: %v", err)
	}
	nonce := hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tok := filepath.Join(dir, "token.cbor")
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_SPE_ROT": tp.Spec}, "spe", "attest", "--state-dir", stateDir, "--device", devDir, "--nonce", nonce, "-o", tok); code != ExitOK {
		t.Fatalf("attest: %d %q", code, errs)
	}
	if code, out, errs := runCLI(t, nil, "attest", "verify", "--endorsements", endo, "--nonce", nonce, "--json", tok); code != ExitOK || !strings.Contains(out, "1.2.0") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, "spe", "attest", "--state-dir", stateDir, "--device", devDir, "--nonce", nonce, "-o", tok+"2"); code != ExitError || !strings.Contains(errs, "TPM") {
		t.Fatalf("attest without the TPM: %d %q", code, errs)
	}
}

// TestSpeServeWithTPM: `spe serve` with $RAMPART_SPE_ROT naming swtpm
// serves, keeps no HUK file and records the TPM root in the state directory.
func TestSpeServeWithTPM(t *testing.T) {
	tp := swtpmtest.Start(t)
	s := startSpeServeEnv(t, "spetpm", nil, map[string]string{"RAMPART_SPE_ROT": tp.Spec})
	c, err := ipc.Dial(s.sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	state := filepath.Join(s.dir, "state")
	if b, err := os.ReadFile(filepath.Join(state, "rot")); err != nil || strings.TrimSpace(string(b)) != "tpm" {
		t.Fatalf("state/rot: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(state, "huk")); !os.IsNotExist(err) {
		t.Fatalf("a HUK file beside the TPM: %v", err)
	}
	// A client's PSA key generated in the TPM, listed as such.
	pc, err := psaclient.Dial(s.sock)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pc.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Lifetime: psa.LifetimePersistentTPM, ID: 4, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	pc.Close()
	code, out, errs := run(t, "spe", "keys", "--socket", s.sock, "--json")
	var keys []speKey
	if code != ExitOK || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].Lifetime != "persistent:tpm" {
		t.Fatalf("spe keys: %d %q %q", code, out, errs)
	}
	s.stop(t)
}
