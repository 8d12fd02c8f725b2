package cli

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/fleet/store"
	"rampart/hsm/hsmtest"
	"rampart/image"
	"rampart/sim"
	"rampart/spe"
	"rampart/spe/platform"
	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
)

// TestProvisionImportEnroll is the factory-to-fleet path with nothing
// re-signed: `rampart spe provision` writes the signed endorsement, `rampart
// fleet endorsements import` sends that file as it is to a real fleet
// server, and the device then enrolls by attestation (`rampart agent --once`).
func TestProvisionImportEnroll(t *testing.T) { provisionImportEnroll(t, "", nil) }

// TestProvisionImportEnrollHardwareRoots is the same path with hardware
// roots: the manufacturer key in SoftHSM2 (--manufacturer-key pkcs11:...)
// and the device's HUK and IAK in swtpm (--rot tpm:...): the fleet imports
// the endorsement and enrolls the device by a token the TPM signed.
func TestProvisionImportEnrollHardwareRoots(t *testing.T) {
	tp := swtpmtest.Start(t)
	tk := hsmtest.Start(t)
	provisionImportEnroll(t, tp.Spec, func(mfrPEM string) []string {
		tk.Import(t, mfrPEM, "mfr", "01")
		return []string{"--manufacturer-key", tk.URI("mfr"), "--rot", tp.Spec}
	})
}

// provisionImportEnroll runs the factory-to-fleet path; with tpmSpec the
// SPE's roots are in that TPM (opened only after the CLI closed its own
// connection: swtpm serves one at a time), and hw turns the manufacturer
// key file into the provisioning flags that name the hardware keys.
func provisionImportEnroll(t *testing.T, tpmSpec string, hw func(mfrPEM string) []string) {
	dir := shortTempDir(t, "e2e")
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	v1, err := f.SignFirmware("1.0.0", 4000)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RegisterRelease(ctx, v1, "test"); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	der, _ := x509.MarshalPKCS8PrivateKey(f.Mfr)
	mfrPath := write("mfr.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	bootPub, _ := image.MarshalPublicKeyPEM(&f.Release.PublicKey)
	bootPubPath := write("boot.pub.pem", bootPub)
	caPath := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Server.CA().Certificate().Raw}))

	// The factory: a device with v1 in its primary slot, provisioned by the CLI.
	devDir, stateDir := factoryDevice(t, dir, v1), filepath.Join(dir, "spe")
	endo := filepath.Join(dir, "device.endorsement.json")
	keyFlags := []string{"--manufacturer-key", mfrPath}
	if hw != nil {
		keyFlags = hw(mfrPath)
		os.Remove(mfrPath)
	}
	if code, out, errs := run(t, append([]string{"spe", "provision", "--state-dir", stateDir, "--device", devDir,
		"--implementation-id", hex.EncodeToString(sim.ImplementationID), "--boot-key", bootPubPath,
		"--manufacturer", "Sim Devices Ltd", "--endorsement", endo}, keyFlags...)...); code != ExitOK {
		t.Fatalf("provision: %d %q %q", code, out, errs)
	}

	// The fleet: import the factory's file as it is.
	env := map[string]string{"RAMPART_FLEET_URL": f.AdminURL, "RAMPART_FLEET_TOKEN": sim.AdminToken, "RAMPART_FLEET_CA": caPath}
	code, out, errs := runCLI(t, env, "fleet", "endorsements", "import", "--json", endo+".cose")
	var res struct {
		Manufacturer string   `json:"manufacturer"`
		Added        []string `json:"added"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &res) != nil || res.Manufacturer != sim.MfrName || len(res.Added) != 1 {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	// The unsigned list beside it is refused, and says what to import instead.
	if code, _, errs := runCLI(t, env, "fleet", "endorsements", "import", endo); code != ExitFailure || !strings.Contains(errs, "unsigned endorsement list") {
		t.Fatalf("unsigned import: %d %q", code, errs)
	}

	// The device boots and enrolls by attestation.
	dev, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	var tpm *rot.TPM
	if tpmSpec != "" {
		if tpm, err = rot.Open(tpmSpec); err != nil {
			t.Fatal(err)
		}
		defer tpm.Close()
	}
	p, err := platform.Open(platform.Options{StateDir: stateDir, Device: dev, RoT: tpm,
		Server: spe.Options{Identify: func(uid, pid int) (int32, error) { return -1, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sock := filepath.Join(dir, "run", "spe.sock")
	if err := p.Server.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go p.Server.Serve()
	defer p.Server.Shutdown()
	code, out, errs = run(t, "agent", "--once", "--json", "--socket", sock, "--dir", filepath.Join(dir, "agent"),
		"--enroll-url", f.EnrollURL, "--mqtt", f.MQTTAddr, "--ca", caPath)
	var r struct {
		DeviceID string `json:"device_id"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &r) != nil || r.DeviceID != res.Added[0] {
		t.Fatalf("agent --once: %d %q %q", code, out, errs)
	}
	got, err := f.Server.Store().Device(ctx, r.DeviceID)
	if err != nil || got.State != store.Active || got.Manufacturer != sim.MfrName {
		t.Fatalf("device after enrollment: %+v, %v", got, err)
	}
}
