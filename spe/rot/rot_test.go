package rot_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
)

func open(t testing.TB, tp *swtpmtest.TPM) *rot.TPM {
	t.Helper()
	r, err := rot.Open(tp.Spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestProvisionDeriveSign: provisioning makes both keys; the sealing root
// is stable; the TPM's signatures verify with the attestation key.
func TestProvisionDeriveSign(t *testing.T) {
	r := open(t, swtpmtest.Start(t))
	if r.Provisioned() {
		t.Fatal("a new TPM reports Rampart keys")
	}
	if _, err := r.Derive("x"); !errors.Is(err, rot.ErrNotProvisioned) {
		t.Fatalf("Derive before provisioning: %v", err)
	}
	pub, err := r.Provision()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Provisioned() {
		t.Fatal("not provisioned after Provision")
	}
	a, _ := r.Derive("rampart huk v1")
	b, _ := r.Derive("rampart huk v1")
	c, _ := r.Derive("another label")
	if len(a) != 32 || !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("derivation: %x %x %x", a, b, c)
	}
	k, err := r.IAK()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("token"))
	sig, err := k.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub, d[:], sig) || !pub.Equal(k.Public()) {
		t.Fatal("the TPM's signature does not verify with the attestation key")
	}
	if _, err := k.Sign(nil, d[:16], crypto.SHA256); err == nil {
		t.Fatal("a short digest was signed")
	}
}

// TestStateCopiedToAnotherTPM: the keys are in the TPM, not in any file:
// a second TPM (a copy of the device's disk on another machine) has none,
// and once provisioned its keys are different ones.
func TestStateCopiedToAnotherTPM(t *testing.T) {
	first := open(t, swtpmtest.Start(t))
	pub1, err := first.Provision()
	if err != nil {
		t.Fatal(err)
	}
	root1, _ := first.Derive("rampart huk v1")
	second := open(t, swtpmtest.Start(t))
	if second.Provisioned() {
		t.Fatal("the second TPM holds the first one's keys")
	}
	if _, err := second.Derive("rampart huk v1"); !errors.Is(err, rot.ErrNotProvisioned) {
		t.Fatalf("second TPM: %v", err)
	}
	pub2, err := second.Provision()
	if err != nil {
		t.Fatal(err)
	}
	root2, _ := second.Derive("rampart huk v1")
	if pub1.Equal(pub2) || bytes.Equal(root1, root2) {
		t.Fatal("two TPMs gave the same keys")
	}
	k2, _ := second.IAK()
	d := sha256.Sum256([]byte("token"))
	sig, _ := k2.Sign(nil, d[:], crypto.SHA256)
	if ecdsa.VerifyASN1(pub1, d[:], sig) {
		t.Fatal("the second TPM's signature verifies with the first device's endorsed key")
	}
}

// TestClearShreds: after Clear the keys are gone for good, even for a copy
// of the TPM's own state made before (the objects lived only there); what
// tpm2-tools lists of the TPM's persistent handles agrees.
func TestClearShreds(t *testing.T) {
	tp := swtpmtest.Start(t)
	r := open(t, tp)
	if _, err := r.Provision(); err != nil {
		t.Fatal(err)
	}
	r.Close() // swtpm serves one connection at a time
	if h := persistentHandles(t, tp); h != nil && (!bytes.Contains(h, []byte("0x81520001")) || !bytes.Contains(h, []byte("0x81520002"))) {
		t.Fatalf("tpm2_getcap does not list Rampart's handles after provisioning:\n%s", h)
	}
	r = open(t, tp)
	if err := r.Clear(); err != nil {
		t.Fatal(err)
	}
	if r.Provisioned() {
		t.Fatal("keys left after Clear")
	}
	if _, err := r.Derive("rampart huk v1"); !errors.Is(err, rot.ErrNotProvisioned) {
		t.Fatalf("Derive after Clear: %v", err)
	}
	if err := r.Clear(); err != nil {
		t.Fatalf("Clear twice: %v", err)
	}
	r.Close()
	if h := persistentHandles(t, tp); h != nil && (bytes.Contains(h, []byte("0x81520001")) || bytes.Contains(h, []byte("0x81520002"))) {
		t.Fatalf("tpm2_getcap still lists Rampart's handles after Clear:\n%s", h)
	}
}

// persistentHandles is tpm2_getcap handles-persistent, or nil without tpm2-tools.
func persistentHandles(t *testing.T, tp *swtpmtest.TPM) []byte {
	t.Helper()
	if _, err := exec.LookPath("tpm2_getcap"); err != nil {
		t.Log("tpm2-tools not installed: the handles are not cross-checked")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tpm2_getcap", "-T", "swtpm:host=127.0.0.1,port="+strconv.Itoa(tp.DataPort), "handles-persistent").CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2_getcap: %v\n%s", err, out)
	}
	return append(out, ' ')
}

// TestPowerCutDuringProvisioning kills the TPM after the first key is
// persistent and before the second: after restart the device is not
// provisioned, and provisioning again succeeds.
func TestPowerCutDuringProvisioning(t *testing.T) {
	state := t.TempDir()
	tp := swtpmtest.StartWithState(t, state)
	r := open(t, tp)
	if _, err := r.Provision(); err != nil {
		t.Fatal(err)
	}
	if err := rot.EvictIAKForTest(r); err != nil { // as if the cut came between the two keys
		t.Fatal(err)
	}
	tp.Stop()
	r.Close()
	tp2 := swtpmtest.StartWithState(t, state)
	r2 := open(t, tp2)
	if r2.Provisioned() {
		t.Fatal("a half-provisioned TPM reports itself provisioned")
	}
	if _, err := r2.Provision(); err != nil {
		t.Fatalf("provisioning again after the power cut: %v", err)
	}
	if !r2.Provisioned() {
		t.Fatal("not provisioned")
	}
}

// TestMeasureBoot: the PCR after MeasureBoot is what a verifier replays.
func TestMeasureBoot(t *testing.T) {
	r := open(t, swtpmtest.Start(t))
	recs := [][]byte{[]byte("record BL2"), []byte("record SPE"), []byte("record NSPE")}
	if err := r.MeasureBoot(recs); err != nil {
		t.Fatal(err)
	}
	got, err := r.BootPCRValue()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rot.ReplayBoot(recs)) {
		t.Fatalf("PCR %x, replay %x", got, rot.ReplayBoot(recs))
	}
	if bytes.Equal(got, rot.ReplayBoot(recs[:2])) {
		t.Fatal("a shorter log replays to the same PCR")
	}
	// Measuring again starts from zero (reset), as a device's boot does.
	r.MeasureBoot(recs)
	if again, _ := r.BootPCRValue(); !bytes.Equal(again, got) {
		t.Fatal("a second boot's PCR differs")
	}
}

// TestConcurrentSigning: the SPE signs for several clients at once; every
// signature made over one connection verifies.
func TestConcurrentSigning(t *testing.T) {
	r := open(t, swtpmtest.Start(t))
	pub, err := r.Provision()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.IAK()
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 4 {
				d := sha256.Sum256([]byte{byte(i), byte(j)})
				sig, err := k.Sign(nil, d[:], nil)
				if err == nil && !ecdsa.VerifyASN1(pub, d[:], sig) {
					err = errors.New("a signature does not verify")
				}
				if err != nil {
					errs <- err
				}
				if _, err := r.Derive("x"); err != nil {
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
