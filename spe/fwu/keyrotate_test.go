package fwu_test

import (
	"errors"
	"testing"

	"rampart/boot"
	"rampart/ipc"
	"rampart/psa"
)

// TestKeyRotationThroughFWU rotates the release key through the PSA FWU
// API: the next key (provisioned pending) is refused at finish until an
// update signed by the current key with the rotation TLV is accepted; the
// new key's update then installs, and once it is accepted the old key is
// revoked and its images are refused at finish.
func TestKeyRotationThroughFWU(t *testing.T) {
	otp := boot.NewCounters(1, 0)
	if err := otp.MarkPending(1); err != nil {
		t.Fatal(err)
	}
	d := newDeviceKeys(t, []any{&bootKey.PublicKey, &otherKey.PublicKey}, otp)
	refused := func(img []byte, why string) {
		t.Helper()
		if err := d.download(t, img, 1024); !errors.Is(err, ipc.ErrInvalidSignature) {
			t.Fatalf("%s: finish: %v, want INVALID_SIGNATURE", why, err)
		}
		if err := d.c.Clean(0); err != nil {
			t.Fatal(err)
		}
	}
	update := func(img []byte, want, keys string) {
		t.Helper()
		if err := d.download(t, img, 1024); err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if _, err := d.c.Install(); err != nil {
			t.Fatal(err)
		}
		if err := d.c.RequestReboot(); err != nil {
			t.Fatal(err)
		}
		if err := d.c.Accept(); err != nil {
			t.Fatal(err)
		}
		if err := d.c.RequestReboot(); err != nil {
			t.Fatal(err)
		}
		if i := d.state(t); i.State != psa.FWUUpdated || i.Version.String() != want {
			t.Fatalf("after %s: %+v", want, i)
		}
		if got := otp.KeyStatuses(2); got != keys {
			t.Fatalf("after %s: keys %s, want %s", want, got, keys)
		}
		if err := d.c.Clean(0); err != nil {
			t.Fatal(err)
		}
	}
	refused(signed(t, "1.5.0", 5000, otherKey), "the pending key before the rotation")
	rot, err := boot.RotateKeyTLV(&otherKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	update(signed(t, "2.0.0", 5000, bootKey, rot), "2.0.0+0", "0:retiring 1:active")
	update(signed(t, "3.0.0", 5000, otherKey), "3.0.0+0", "0:revoked 1:active")
	refused(signed(t, "4.0.0", 5000, bootKey), "the revoked key")
}
