package platform_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/boot"
	"rampart/image"
	"rampart/psaclient"
	"rampart/spe/platform"
	"rampart/spe/provision"
	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
)

func openRoT(t *testing.T, tp *swtpmtest.TPM) *rot.TPM {
	t.Helper()
	r, err := rot.Open(tp.Spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestTPMDeviceLife: a device whose roots are in swtpm is provisioned (the
// endorsement names the TPM's attestation key, no HUK file exists),
// attests with tokens the TPM signs, its boot PCR replays from the token's
// software components; its state directory copied to a second device on
// another swtpm opens nothing; decommissioning clears the TPM's objects.
func TestTPMDeviceLife(t *testing.T) {
	ra := openRoT(t, swtpmtest.Start(t))
	devDir, stateDir := newDevice(t)
	p, err := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}, RoT: ra})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	res, err := provision.Run(p, provision.Options{ImplementationID: implID, BootKeys: [][]byte{pubPEM}, DeviceDir: devDir, Manufacturer: mfrKey})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := os.Stat(filepath.Join(stateDir, platform.HUKFile)); !os.IsNotExist(err) {
		t.Fatalf("a HUK file exists beside the TPM: %v", err)
	}
	tpmPub, err := ra.IAKPublic()
	if err != nil || !tpmPub.Equal(res.Endorsement.PublicKey) {
		t.Fatalf("the endorsement does not name the TPM's attestation key: %v", err)
	}
	list, _, err := provision.VerifyEndorsements(res.Signed, &mfrKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	p, _ = open(t, devDir, stateDir, ra)
	nonce := bytes.Repeat([]byte{0x11}, 32)
	tok, err := token(t, p, -3, nonce)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce})
	if err != nil {
		t.Fatalf("a TPM-signed token: %v", err)
	}
	checkPCR := func(cl *attest.Claims) {
		t.Helper()
		var log [][]byte
		for _, c := range cl.SoftwareComponents {
			b, _ := c.MarshalCBOR()
			log = append(log, b)
		}
		pcr, err := ra.BootPCRValue()
		if err != nil || len(log) == 0 || !bytes.Equal(pcr, rot.ReplayBoot(log)) {
			t.Fatalf("PCR %d %x does not replay from the token's %d software components: %v", rot.BootPCR, pcr, len(log), err)
		}
	}
	checkPCR(cl)

	// Update to v2 through FWU: the new token, signed by the TPM, carries
	// v2, and the PCR follows the new boot.
	l, _ := p.Server.Local(-1)
	fw := psaclient.NewFWU(l)
	v2 := signed(t, "2.0.0", 5000)
	for _, step := range []func() error{
		func() error { return fw.Start(0) }, func() error { return fw.Write(0, 0, v2) }, func() error { return fw.Finish(0) },
		func() error { _, err := fw.Install(); return err }, fw.RequestReboot, fw.Accept,
	} {
		if err := step(); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	fw.Close()
	tok, err = token(t, p, -3, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if cl, err = attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce}); err != nil || !strings.HasPrefix(cl.SoftwareComponents[0].Version, "2.0.0") {
		t.Fatalf("after the update: %v %+v", err, cl)
	}
	checkPCR(cl)
	// Protected storage sealed under the TPM-derived root survives a restart.
	l2, _ := p.Server.Local(-1)
	ps := psaclient.NewPS(l2)
	if err := ps.Set(1, []byte("customer data"), 0); err != nil {
		t.Fatal(err)
	}
	ps.Close()
	p.Close()
	p, _ = open(t, devDir, stateDir, ra)
	l3, _ := p.Server.Local(-1)
	ps = psaclient.NewPS(l3)
	if got, err := ps.Get(1, 0, 100); err != nil || string(got) != "customer data" {
		t.Fatalf("PS after a restart with the TPM root: %q %v", got, err)
	}
	ps.Close()
	p.Close()

	// The disk copied to another device with its own TPM.
	root := t.TempDir()
	devB, stateB := filepath.Join(root, "device"), filepath.Join(root, "state")
	for _, c := range [][2]string{{devDir, devB}, {stateDir, stateB}} {
		if out, err := exec.Command("cp", "-a", c[0], c[1]).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	if _, err := platform.Open(platform.Options{StateDir: stateB, LastBoot: &boot.Result{}}); err == nil {
		t.Fatal("the copied state opened with the file root")
	}
	rb := openRoT(t, swtpmtest.Start(t))
	if pb, err := platform.Open(platform.Options{StateDir: stateB, LastBoot: &boot.Result{}, RoT: rb}); err == nil {
		defer pb.Close()
		if pb.Attestation != nil && pb.Attestation.PublicKey() != nil {
			t.Fatal("the copied state yields an attestation key on another TPM")
		}
		if tok, err := token(t, pb, -3, nonce); err == nil {
			if _, err := attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce}); err == nil {
				t.Fatal("a token from the copy verifies against the first device's endorsement")
			}
		}
	} else {
		t.Logf("the copy on another TPM: %v", err)
	}

	// Decommissioning evicts the TPM's objects.
	p, _ = open(t, devDir, stateDir, ra)
	if err := p.Lifecycle.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	if ra.Provisioned() {
		t.Fatal("the TPM still holds Rampart's keys after decommissioning")
	}
}
