package platform_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"os/exec"
	"path/filepath"
	"testing"

	"rampart/attest"
	"rampart/boot"
	"rampart/image"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/platform"
	"rampart/spe/provision"
	"rampart/spe/rot/swtpmtest"
)

// TestTPMPSAKeyOnDevice: on a device whose roots are in swtpm, a client's
// persistent PSA key of the TPM location signs through the TPM, survives a
// restart of the SPE, is useless in a copy of the state directory on
// another device's TPM, and decommissioning evicts it with the HUK and the
// IAK.
func TestTPMPSAKeyOnDevice(t *testing.T) {
	ra := openRoT(t, swtpmtest.Start(t))
	devDir, stateDir := newDevice(t)
	p, err := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}, RoT: ra})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	if _, err := provision.Run(p, provision.Options{ImplementationID: implID, BootKeys: [][]byte{pubPEM}, DeviceDir: devDir, Manufacturer: mfrKey}); err != nil {
		t.Fatal(err)
	}
	p.Close()

	attr := psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Lifetime: psa.LifetimePersistentTPM, ID: 5,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)}
	d := sha256.Sum256([]byte("device message"))
	signAndVerify := func(p *platform.Platform) error {
		t.Helper()
		c := cryptoClient(t, p)
		sig, err := c.SignHash(attr.ID, attr.Algorithm, d[:])
		if err != nil {
			return err
		}
		b, err := c.ExportPublicKey(attr.ID)
		if err != nil {
			return err
		}
		pub, err := psa.ParsePublicKey(psa.KeyTypeECCPublicKey(psa.ECCFamilySECPR1), b)
		if err != nil {
			return err
		}
		if !ecdsa.Verify(pub.(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("the TPM key's signature does not verify")
		}
		return nil
	}

	p, _ = open(t, devDir, stateDir, ra)
	if _, err := cryptoClient(t, p).GenerateKey(attr); err != nil {
		t.Fatal(err)
	}
	if err := signAndVerify(p); err != nil {
		t.Fatal(err)
	}
	if _, err := cryptoClient(t, p).ExportKey(attr.ID); !errors.Is(err, psa.ErrNotPermitted) {
		t.Fatalf("export of a TPM key: %v", err)
	}
	p.Close()
	p, _ = open(t, devDir, stateDir, ra)
	if err := signAndVerify(p); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	p.Close()
	handles, _ := ra.PersistentHandles()
	if len(handles) != 3 {
		t.Fatalf("TPM handles %x: want the HUK, the IAK and one PSA key", handles)
	}

	// The state directory copied to a device with another TPM: its
	// sealing root differs, the key's reference does not even open.
	root := t.TempDir()
	stateB := filepath.Join(root, "state")
	if out, err := exec.Command("cp", "-a", stateDir, stateB).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	rb := openRoT(t, swtpmtest.Start(t))
	if pb, err := platform.Open(platform.Options{StateDir: stateB, LastBoot: &boot.Result{}, RoT: rb}); err == nil {
		if err := signAndVerify(pb); err == nil {
			t.Fatal("the copied key store signs on another TPM")
		} else {
			t.Logf("the copy on another TPM: %v", err)
		}
		pb.Close()
	} else {
		t.Logf("the copy on another TPM does not open: %v", err)
	}

	p, _ = open(t, devDir, stateDir, ra)
	if err := p.Lifecycle.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	if handles, err := ra.PersistentHandles(); err != nil || len(handles) != 0 {
		t.Fatalf("TPM handles after decommissioning: %x %v", handles, err)
	}
}

func cryptoClient(t *testing.T, p *platform.Platform) *psaclient.Client {
	t.Helper()
	l, err := p.Server.Local(-1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psaclient.NewClient(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
