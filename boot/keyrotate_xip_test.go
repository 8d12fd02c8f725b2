package boot

import (
	"fmt"
	"testing"
)

// Release-key rotation under direct-XIP (with and without revert) and
// ram-load: the same two steps as in the swap modes (keyrotate.go), with
// the update written to the slot the device is not running from.

var xipStrategies = []Strategy{DirectXIP, DirectXIPRevert, RAMLoad}

// newXIPRotation is newRotation's images for strategy s (ram-load images
// carry a load address).
func newXIPRotation(t testing.TB, s Strategy) rotation {
	if s == RAMLoad {
		return newRotationAt(t, testRAMStart)
	}
	return newRotationAt(t, 0)
}

// deliverXIP is the update client of direct-XIP and ram-load: it writes
// img to the slot the device is not running from (with revert, with a
// test request: the trailer magic), boots, confirms the image if it runs
// and boots again. It stops at the first error (a power cut).
func deliverXIP(r *rig, img []byte, want string) error {
	to := Primary
	if r.bl.active[0] == Primary {
		to = Secondary
	}
	if err := r.bl.Install(0, to, img); err != nil {
		return err
	}
	if r.bl.l.xipRevert() {
		s, _ := r.bl.slot(0, to)
		if err := r.bl.io.writeMagic(s); err != nil {
			return err
		}
	}
	res, err := r.bl.Boot()
	if err != nil {
		return err
	}
	if got := res.Images[0].Version; got != want {
		return fmt.Errorf("boot ran %s, want %s\n%s", got, want, notes(res))
	}
	if err := r.bl.Confirm(0); err != nil {
		return err
	}
	_, err = r.bl.Boot()
	return err
}

// TestKeyRotationXIP: under direct-XIP, direct-XIP with revert and
// ram-load, the new key's image is refused while pending; v2 (old key,
// rotation TLV) activates it once permanent (with revert: confirmed, not
// on its test boot); v3 (new key) revokes the old key once permanent;
// then an image of the old key is refused and v3 keeps running.
func TestKeyRotationXIP(t *testing.T) {
	for _, s := range xipStrategies {
		t.Run(string(s), func(t *testing.T) {
			rt := newXIPRotation(t, s)
			r := newRotationRigIn(t, s, rt)
			// The pending key's image does not boot.
			r.install(0, Secondary, rt.newEarly)
			if res := r.boot(); res.Images[0].Version != "1.0.0+0" || r.ctr.KeyStatuses(2) != "0:active 1:pending" {
				t.Fatalf("pending key's image: ran %s, keys %s\n%s", res.Images[0].Version, r.ctr.KeyStatuses(2), notes(res))
			}
			if s == DirectXIPRevert {
				// v2 on its test boot changes no fuse.
				r.install(0, Secondary, rt.v2)
				sl, _ := r.bl.slot(0, Secondary)
				if err := r.bl.io.writeMagic(sl); err != nil {
					t.Fatal(err)
				}
				if res := r.boot(); res.Images[0].Version != "2.0.0+0" || r.ctr.KeyStatuses(2) != "0:active 1:pending" {
					t.Fatalf("v2 on test: ran %s, keys %s\n%s", res.Images[0].Version, r.ctr.KeyStatuses(2), notes(res))
				}
				if err := r.bl.Confirm(0); err != nil {
					t.Fatal(err)
				}
				r.boot()
			} else if err := deliverXIP(r, rt.v2, "2.0.0+0"); err != nil {
				t.Fatal(err)
			}
			if got := r.ctr.KeyStatuses(2); got != "0:retiring 1:active" {
				t.Fatalf("after v2 permanent: keys %s, want 0:retiring 1:active", got)
			}
			if err := deliverXIP(r, rt.v3, "3.0.0+0"); err != nil {
				t.Fatal(err)
			}
			if got := r.ctr.KeyStatuses(2); got != "0:revoked 1:active" {
				t.Fatalf("after v3 permanent: keys %s, want 0:revoked 1:active", got)
			}
			err := deliverXIP(r, rt.oldAfter, "4.0.0+0")
			if err == nil {
				t.Fatal("an image of the revoked key booted")
			}
			res := r.boot()
			if res.Images[0].Version != "3.0.0+0" {
				t.Fatalf("after the revoked key's image: ran %s\n%s", res.Images[0].Version, notes(res))
			}
		})
	}
}

// TestKeyRotationXIPPowerCut cuts the power before every flash operation
// of the two-step rotation under each of direct-XIP, direct-XIP with
// revert and ram-load (and, every third one, tears it): each boot after a
// cut runs an authentic image under a usable key with fuses in one of the
// rotation's three states, and the rotation completes.
func TestKeyRotationXIPPowerCut(t *testing.T) {
	for _, s := range xipStrategies {
		t.Run(string(s), func(t *testing.T) {
			rt := newXIPRotation(t, s)
			total := runRotation(t, s, rt, 0, false)
			for cut := 1; cut <= total; cut++ {
				runRotation(t, s, rt, cut, false)
			}
			for cut := 1; cut <= total; cut += 3 {
				runRotation(t, s, rt, cut, true)
			}
			t.Logf("%s: %d cut points", s, total)
		})
	}
}

// xipPermanentlyRunning: the device runs want from a slot it keeps (with
// revert: confirmed).
func xipPermanentlyRunning(r *rig, want string, res *Result) bool {
	if res.Images[0].Version != want {
		return false
	}
	if !r.bl.l.xipRevert() {
		return true
	}
	s, _ := r.bl.slot(0, res.Images[0].Slot)
	tr, err := r.bl.io.trailer(s)
	return err == nil && tr.ImageOK == FlagSet
}
