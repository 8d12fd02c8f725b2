package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"rampart/adminapi"
	"rampart/boot"
	"rampart/fleet/store"
	"rampart/image"
)

// signWith signs firmware of version with key, as SignFirmware does with
// the fleet's release key.
func signWith(t *testing.T, key *ecdsa.PrivateKey, version string) []byte {
	t.Helper()
	v, err := image.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	sc := v.SecurityCounter()
	res, err := image.Sign([]byte(strings.Repeat("rampart firmware "+version, 200)), &image.SignOptions{Key: key, HeaderSize: 32, PadHeader: true,
		Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

// TestRetiredReleaseKey: after a release key rotation (the fleet trusts
// the new key and lists the old one as retired), a release signed with the
// retired key is refused by the server (422, audited) while the new key's
// is registered; and a device provisioned with the new key set refuses the
// retired key's image at boot (MCUboot's rule: only a provisioned key's
// signature boots). The device-side transition (an update signed by the
// old key that activates the new one) is TestReleaseKeyRotationDevice.
func TestRetiredReleaseKey(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f, err := StartFleet(FleetOptions{Dir: t.TempDir(), Release: newKey, RetiredRelease: &oldKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	c := adminapi.NewClient(f.AdminURL, AdminToken, f.Roots())
	defer c.HTTP.CloseIdleConnections()
	_, _, err = c.UploadRelease(ctx, signWith(t, oldKey, "2.0.0"), "old key", false)
	var se *adminapi.StatusError
	if !errors.As(err, &se) || se.Status != 422 || !strings.Contains(err.Error(), "retired release key") {
		t.Fatalf("release signed with the retired key: %v", err)
	}
	if _, _, err := c.UploadRelease(ctx, signWith(t, newKey, "2.0.0"), "new key", false); err != nil {
		t.Fatalf("release signed with the new key: %v", err)
	}
	denied, err := f.Server.Store().AuditLog(ctx, store.AuditFilter{Action: "releases.register", Decision: store.Deny})
	if err != nil || len(denied) != 1 || !strings.Contains(denied[0].Reason, "retired release key") {
		t.Fatalf("the refusal is not audited: %v %+v", err, denied)
	}

	// The bootloader of a device provisioned with the new key set.
	d, err := Manufacture(t.TempDir(), 0, f, signWith(t, newKey, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := boot.OpenDevice(d.devDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if err := dev.Boot.Install(0, boot.Secondary, signWith(t, oldKey, "2.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := dev.Boot.RequestUpgrade(0, true); err != nil {
		t.Fatal(err)
	}
	res, err := dev.Boot.Boot()
	if err != nil {
		t.Fatal(err)
	}
	im := res.Images[0]
	if !im.Booted || !strings.HasPrefix(im.Version, "1.0.0") || !strings.Contains(strings.Join(im.Notes, " "), "not signed by a provisioned key") {
		t.Fatalf("the bootloader booted %+v, want the retired key's image rejected and the new key's 1.0.0 kept", im)
	}
}
