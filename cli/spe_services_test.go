package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/image"
)

// TestSpeProvisionAttestDecommission runs the factory and field commands on
// a device: provision, attest, verify with the endorsement, decommission.
func TestSpeProvisionAttestDecommission(t *testing.T) {
	dir := t.TempDir()
	bootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	der, _ := x509.MarshalPKCS8PrivateKey(mfr)
	mfrPath := write("mfr.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	mfrPub, _ := attest.MarshalPublicKeyPEM(&mfr.PublicKey)
	mfrPubPath := write("mfr.pub.pem", mfrPub)
	bootPub, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	bootPubPath := write("boot.pub.pem", bootPub)

	devDir, stateDir := factoryDevice(t, dir, speImage(t, bootKey)), filepath.Join(dir, "state")

	impl := strings.Repeat("ab", 32)
	endo := filepath.Join(dir, "endorsement.json")
	if code, out, errs := run(t, "spe", "provision", "--state-dir", stateDir, "--device", devDir, "--implementation-id", impl,
		"--boot-key", bootPubPath, "--next-boot-key", mfrPubPath, "--manufacturer-key", mfrPath, "--endorsement", endo); code != ExitOK || !strings.Contains(out, "secured") {
		t.Fatalf("provision: %d %q %q", code, out, errs)
	}
	// Any P-256 public key serves as the next release key here.
	if out := mustRun(t, "boot", "show", devDir); !strings.Contains(out, "release keys: 0:active 1:pending") {
		t.Fatalf("boot show after provisioning a next key:\n%s", out)
	}
	if code, _, errs := run(t, "spe", "provision", "--state-dir", stateDir, "--implementation-id", impl,
		"--manufacturer-key", mfrPath, "--endorsement", endo+"2"); code != ExitFailure {
		t.Fatalf("second provision: %d %q", code, errs)
	}
	if code, out, errs := run(t, "spe", "provision", "--reissue", "--state-dir", stateDir, "--implementation-id", impl,
		"--manufacturer-key", mfrPath, "--endorsement", endo+".again"); code != ExitOK || !strings.Contains(out, "secured") {
		t.Fatalf("reissue: %d %q %q", code, out, errs)
	}
	first, _ := os.ReadFile(endo)
	again, _ := os.ReadFile(endo + ".again")
	if !bytes.Equal(first, again) {
		t.Fatalf("reissued endorsement differs:\n%s\n%s", first, again)
	}
	if code, out, errs := run(t, "spe", "endorsement", "verify", "--manufacturer-key", mfrPubPath, endo+".cose"); code != ExitOK || !strings.Contains(out, "instance_id") {
		t.Fatalf("endorsement verify: %d %q", code, errs)
	}
	if code, _, _ := run(t, "spe", "endorsement", "verify", "--manufacturer-key", bootPubPath, endo+".cose"); code != ExitFailure {
		t.Fatalf("endorsement verify with the wrong key: %d", code)
	}
	nonce := hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tok := filepath.Join(dir, "token.cbor")
	if code, _, errs := run(t, "spe", "attest", "--state-dir", stateDir, "--device", devDir, "--nonce", nonce, "-o", tok); code != ExitOK {
		t.Fatalf("attest: %d %q", code, errs)
	}
	code, out, errs := run(t, "attest", "verify", "--endorsements", endo, "--nonce", nonce, "--json", tok)
	if code != ExitOK || !strings.Contains(out, "1.2.0") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	if code, _, _ := run(t, "spe", "attest", "--state-dir", stateDir, "--nonce", nonce[:10]); code != ExitUsage {
		t.Fatalf("short nonce: %d", code)
	}
	if code, _, _ := run(t, "spe", "lifecycle", "--state-dir", stateDir, "--set", "assembly-and-test"); code != ExitFailure {
		t.Fatalf("forbidden transition: %d", code)
	}
	// Update to 1.3.0 through FWU; a foreign image is refused.
	v13, _ := image.ParseVersion("1.3.0")
	sc2 := uint32(2)
	res2, err := image.Sign(bytes.Repeat([]byte{0x6b}, 3500), &image.SignOptions{SecurityCounter: &sc2, Key: bootKey, HeaderSize: 32, PadHeader: true, Version: v13})
	if err != nil {
		t.Fatal(err)
	}
	v2Path := write("v13.bin", res2.Bytes)
	foreign := write("foreign.bin", bytes.Repeat([]byte{1}, 4000))
	if code, _, errs := run(t, "spe", "fwu", "update", "--state-dir", stateDir, "--device", devDir, foreign); code != ExitFailure || !strings.Contains(errs, "not staged") {
		t.Fatalf("foreign image: %d %q", code, errs)
	}
	if code, _, _ := run(t, "spe", "fwu", "query", "--state-dir", stateDir, "--device", devDir); code != ExitOK {
		t.Fatalf("query: %d", code)
	}
	code, out, errs = run(t, "spe", "fwu", "update", "--state-dir", stateDir, "--device", devDir, "--reboot", "--accept", "--json", v2Path)
	if code != ExitOK || !strings.Contains(out, `"state":"UPDATED"`) || !strings.Contains(out, `"version":"1.3.0+0"`) {
		t.Fatalf("update: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "spe", "attest", "--state-dir", stateDir, "--device", devDir, "--nonce", nonce, "-o", tok); code != ExitOK {
		t.Fatalf("attest after update: %d %q", code, errs)
	}
	if code, out, errs := run(t, "attest", "verify", "--endorsements", endo, "--nonce", nonce, "--json", tok); code != ExitOK || !strings.Contains(out, "1.3.0") {
		t.Fatalf("verify after update: %d %q %q", code, out, errs)
	}
	code, out, errs = run(t, "spe", "audit", "--state-dir", stateDir, "--json")
	if code != ExitOK || strings.Count(out, "lifecycle.transition") != 2 {
		t.Fatalf("audit: %d %q %q", code, out, errs)
	}
	// Tampering with the log file is reported by the next start (refused).
	logPath := filepath.Join(stateDir, "audit", "audit.log")
	lb, _ := os.ReadFile(logPath)
	lb[len(lb)/3] ^= 0x04
	os.WriteFile(logPath, lb, 0o600)
	if code, _, errs := run(t, "spe", "audit", "--state-dir", stateDir); code != ExitFailure || !strings.Contains(errs, "tampered") {
		t.Fatalf("tampered audit log accepted: %q", errs)
	}
	lb[len(lb)/3] ^= 0x04
	os.WriteFile(logPath, lb, 0o600)
	if code, out, errs := run(t, "spe", "lifecycle", "--state-dir", stateDir, "--set", "decommissioned"); code != ExitOK || !strings.Contains(out, "decommissioned") {
		t.Fatalf("decommission: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "spe", "attest", "--state-dir", stateDir, "--device", devDir, "--nonce", nonce); code == ExitOK {
		t.Fatalf("attest after decommissioning: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "huk")); !os.IsNotExist(err) {
		t.Fatal("HUK survives decommissioning")
	}
}
