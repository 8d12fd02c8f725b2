package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"rampart/adminapi"
	"rampart/boot"
	"rampart/image"
	"rampart/ipc"
	"rampart/psa"
)

// signRotating signs firmware of version with key, carrying the rotation
// TLV that names next (docs/boot.md §7a).
func signRotating(t *testing.T, key *ecdsa.PrivateKey, version string, next *ecdsa.PublicKey) []byte {
	t.Helper()
	v, err := image.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := boot.RotateKeyTLV(next)
	if err != nil {
		t.Fatal(err)
	}
	sc := v.SecurityCounter()
	res, err := image.Sign([]byte(strings.Repeat("rampart firmware "+version, 200)), &image.SignOptions{Key: key, HeaderSize: 32, PadHeader: true,
		Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader, CustomTLVs: []image.TLV{rot}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

// TestReleaseKeyRotationDevice rotates the release key of a simulated
// device (provisioned by the SPE with the current key and the next one)
// through its SPE's firmware update service, the way the operator does it
// with the server (docs/ownership-and-rotation.md §9): the fleet, trusting
// the old key, registers v2 (old key, rotation TLV) and the device installs
// it; the fleet after the rotation (new key trusted, old retired) registers
// v3 (new key) and refuses v4 (old key); the device installs v3, which
// revokes the old key, and then refuses v4 in its SPE and its bootloader,
// across power cycles.
func TestReleaseKeyRotationDevice(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctx := context.Background()
	before, err := StartFleet(FleetOptions{Dir: t.TempDir(), Release: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	after, err := StartFleet(FleetOptions{Dir: t.TempDir(), Release: newKey, RetiredRelease: &oldKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()

	d, err := ManufactureWith(t.TempDir(), 0, before, signWith(t, oldKey, "1.0.0"), ManufactureOptions{NextRelease: &newKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PowerOn(); err != nil {
		t.Fatal(err)
	}
	defer d.PowerOff()
	keys := func() string {
		otp, err := boot.LoadCounters(filepath.Join(d.devDir(), boot.DeviceOTPFile))
		if err != nil {
			t.Fatal(err)
		}
		return otp.KeyStatuses(2)
	}
	if k := keys(); k != "0:active 1:pending" {
		t.Fatalf("provisioned keys %s", k)
	}
	// download runs the FWU calls of an update up to finish.
	download := func(img []byte) error {
		fwu := d.Platform().FWU
		if err := fwu.Start(0); err != nil {
			t.Fatal(err)
		}
		if err := fwu.Write(0, 0, img); err != nil {
			t.Fatal(err)
		}
		return fwu.Finish(0)
	}
	update := func(img []byte, wantKeys string) {
		t.Helper()
		if err := download(img); err != nil {
			t.Fatal(err)
		}
		fwu := d.Platform().FWU
		if err := fwu.Install(); !errors.Is(err, psa.SuccessReboot) {
			t.Fatalf("install: %v", err)
		}
		for _, step := range []func() error{
			func() error { _, err := fwu.RequestReboot(); return err },
			fwu.Accept,
			func() error { _, err := fwu.RequestReboot(); return err },
			func() error { return fwu.Clean(0) },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		if k := keys(); k != wantKeys {
			t.Fatalf("keys %s, want %s", k, wantKeys)
		}
	}
	refused := func(img []byte, why string) {
		t.Helper()
		if err := download(img); !errors.Is(err, ipc.ErrInvalidSignature) {
			t.Fatalf("%s: finish %v, want INVALID_SIGNATURE", why, err)
		}
		if err := d.Platform().FWU.Clean(0); err != nil {
			t.Fatal(err)
		}
	}

	refused(signWith(t, newKey, "1.5.0"), "the next key before the rotation")
	v2 := signRotating(t, oldKey, "2.0.0", &newKey.PublicKey)
	if err := before.RegisterRelease(ctx, v2, "rotating update"); err != nil {
		t.Fatalf("the fleet before the rotation refuses v2: %v", err)
	}
	update(v2, "0:retiring 1:active")

	v3, v4 := signWith(t, newKey, "3.0.0"), signWith(t, oldKey, "4.0.0")
	c := adminapi.NewClient(after.AdminURL, AdminToken, after.Roots())
	defer c.HTTP.CloseIdleConnections()
	if _, _, err := c.UploadRelease(ctx, v3, "new key", false); err != nil {
		t.Fatalf("v3: %v", err)
	}
	var se *adminapi.StatusError
	if _, _, err := c.UploadRelease(ctx, v4, "old key", false); !errors.As(err, &se) || se.Status != 422 {
		t.Fatalf("v4 signed by the retired key: %v, want 422", err)
	}
	update(v3, "0:revoked 1:active")
	refused(v4, "the revoked key")

	// Power cycle; then v4 put in the secondary slot behind the SPE's back
	// is refused by the bootloader, which keeps booting v3.
	d.PowerOff()
	dev, err := boot.OpenDevice(d.devDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Boot.Install(0, boot.Secondary, v4); err != nil {
		t.Fatal(err)
	}
	if err := dev.Boot.RequestUpgrade(0, true); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	res, err := d.PowerOn()
	if err != nil {
		t.Fatal(err)
	}
	im := res.Images[0]
	if !im.Booted || !strings.HasPrefix(im.Version, "3.0.0") || !strings.Contains(strings.Join(im.Notes, " "), "signing key revoked") {
		t.Fatalf("after the revoked key's image was staged: %+v", im)
	}
}
