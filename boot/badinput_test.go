package boot

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"rampart/flash"
	"rampart/image"
)

// oneImage returns a rig on the uniform layout with image A (1.0.0, counter
// 1) booted once from the primary slot.
func oneImage(t *testing.T, strategy Strategy) (*rig, []byte) {
	t.Helper()
	r := newRig(t, layouts[0].config(strategy, 8, 0xff, 1))
	a := makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000, seed: 1})
	r.install(0, Primary, a)
	if res := r.boot(); res.Images[0].Version != "1.0.0+0" || r.ctr.Get(0) != 1 {
		t.Fatalf("factory boot: %+v counter %d", res.Images[0], r.ctr.Get(0))
	}
	return r, a
}

// rejectUpdate installs upd as a test upgrade and expects the boot to keep
// A, erase the secondary and explain why with wantErr.
func rejectUpdate(t *testing.T, r *rig, upd []byte, wantErr error) {
	t.Helper()
	r.install(0, Secondary, upd)
	r.request(0, false)
	res := r.boot()
	if res.Images[0].Version != "1.0.0+0" || res.Images[0].Action != SwapNone {
		t.Fatalf("booted %s after %s\n%s", res.Images[0].Version, res.Images[0].Action, notes(res))
	}
	if !strings.Contains(notes(res), wantErr.Error()) {
		t.Fatalf("notes do not mention %q:\n%s", wantErr, notes(res))
	}
	st, _ := r.bl.State()
	if st[0].Secondary.Problem != "empty" || st[0].Secondary.Trailer.Magic != MagicUnset {
		t.Fatalf("rejected secondary not erased: %+v", st[0].Secondary)
	}
}

func TestRejectWrongKey(t *testing.T) {
	for _, s := range []Strategy{SwapMove, OverwriteOnly} {
		r, _ := oneImage(t, s)
		rejectUpdate(t, r, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, key: otherKey}), ErrUnsigned)
	}
}

func TestAcceptSecondProvisionedKey(t *testing.T) {
	r, _ := oneImage(t, SwapMove)
	r.install(0, Secondary, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, key: ecdsaKey}))
	r.request(0, true)
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" {
		t.Fatalf("ECDSA-signed update not booted:\n%s", notes(res))
	}
}

func TestRejectGarbageSecondary(t *testing.T) {
	r, _ := oneImage(t, SwapMove)
	g := make([]byte, 8000)
	rand.NewChaCha8([32]byte{1, 2}).Read(g)
	rejectUpdate(t, r, g, ErrInvalidImage)
	// A real image with one body byte flipped fails its hash.
	b := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000})
	b[100] ^= 1
	rejectUpdate(t, r, b, ErrInvalidImage)
}

func TestRejectTooLarge(t *testing.T) {
	r, _ := oneImage(t, SwapMove)
	max := r.bl.l.images[0].maxImageSize(r.bl.l)
	big := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: max})
	rejectUpdate(t, r, big, ErrTooLarge)
	huge := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: int(r.cfg.Images[0].Secondary.Size) + 1})
	if err := r.bl.Install(0, Secondary, huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("install of an image larger than the slot: %v", err)
	}
}

func TestRejectLowerSecurityCounter(t *testing.T) {
	r, _ := oneImage(t, SwapMove)
	r.install(0, Secondary, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 5, size: 5000, seed: 2}))
	r.request(0, true)
	r.boot()
	if r.ctr.Get(0) != 5 {
		t.Fatalf("counter %d after a permanent upgrade to 5", r.ctr.Get(0))
	}
	// A newer version with an older counter is refused, and so is the old image.
	rejectUpdateFrom(t, r, makeImage(t, imgSpec{ver: "3.0.0", secCnt: 4, size: 5000, seed: 3}), ErrRollback, "2.0.0+0")
	rejectUpdateFrom(t, r, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000, seed: 1}), ErrRollback, "2.0.0+0")
	rejectUpdateFrom(t, r, makeImage(t, imgSpec{ver: "3.0.0", size: 5000, seed: 3, noSC: true}), ErrNoSecurityCounter, "2.0.0+0")
}

func rejectUpdateFrom(t *testing.T, r *rig, upd []byte, wantErr error, running string) {
	t.Helper()
	r.install(0, Secondary, upd)
	r.request(0, false)
	res := r.boot()
	if res.Images[0].Version != running || !strings.Contains(notes(res), wantErr.Error()) {
		t.Fatalf("booted %s, notes:\n%s", res.Images[0].Version, notes(res))
	}
}

func TestRejectLowerVersion(t *testing.T) {
	for _, s := range []Strategy{SwapMove, OverwriteOnly, SwapOffset} {
		r := newRig(t, func() *Config {
			c := layouts[0].config(s, 8, 0xff, 1)
			c.DowngradePrevention = true
			return c
		}())
		r.install(0, Primary, makeImage(t, imgSpec{ver: "1.2.0", secCnt: 1, size: 5000, seed: 1}))
		r.boot()
		// Same counter, lower version: refused by version.
		r.install(0, Secondary, makeImage(t, imgSpec{ver: "1.1.9", secCnt: 1, size: 5000, seed: 2}))
		r.request(0, true)
		res := r.boot()
		if res.Images[0].Version != "1.2.0+0" || !strings.Contains(notes(res), ErrDowngrade.Error()) {
			t.Fatalf("%s: downgrade booted %s\n%s", s, res.Images[0].Version, notes(res))
		}
		// Equal version is allowed (MCUboot allows it).
		r.install(0, Secondary, makeImage(t, imgSpec{ver: "1.2.0", secCnt: 1, size: 5100, seed: 3}))
		r.request(0, true)
		if res := r.boot(); res.Images[0].Action != SwapPerm {
			t.Fatalf("%s: same version refused\n%s", s, notes(res))
		}
	}
}

func TestMissingDependency(t *testing.T) {
	r := newRig(t, layouts[0].config(SwapMove, 8, 0xff, 2))
	set := newImageSet(t, 2, 5000)
	factory(r, set)
	r.boot()
	// Only the non-secure image is updated; it needs secure 2.0.0.
	r.install(1, Secondary, set.new[1])
	r.request(1, false)
	res := r.boot()
	if res.Images[1].Version != "1.0.0+0" || !strings.Contains(notes(res), ErrDependency.Error()) {
		t.Fatalf("booted NS %s\n%s", res.Images[1].Version, notes(res))
	}
	// Once the secure update is staged too, both go.
	r.install(0, Secondary, set.new[0])
	r.request(0, false)
	res = r.boot()
	if res.Images[0].Version != "2.0.0+0" || res.Images[1].Version != "2.0.0+0" {
		t.Fatalf("%s", notes(res))
	}
	// A dependency on an image index the device does not have is never met.
	bad := makeImage(t, imgSpec{ver: "3.0.0", secCnt: 3, size: 5000, deps: []image.Dependency{{ImageID: 7, Version: image.Version{Major: 1}}}})
	r.install(0, Secondary, bad)
	r.request(0, true)
	if res := r.boot(); res.Images[0].Action != SwapNone || !strings.Contains(notes(res), ErrDependency.Error()) {
		t.Fatalf("%s", notes(res))
	}
}

func TestCorruptTrailers(t *testing.T) {
	r, a := oneImage(t, SwapMove)
	b := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 2})
	r.install(0, Secondary, b)
	sec := r.bl.l.images[0].secondary
	// A corrupt magic is "bad": no upgrade, and a request is refused.
	bad := r.bl.l.magicBytes()
	bad[len(bad)-1] ^= 0x40
	if err := r.dev.Write(sec.off+sec.size-uint32(len(bad)), bad); err != nil {
		t.Fatal(err)
	}
	if err := r.bl.RequestUpgrade(0, false); !errors.Is(err, ErrUnsupportedRequest) {
		t.Fatalf("request over a bad magic: %v", err)
	}
	if res := r.boot(); res.Images[0].Action != SwapNone || res.Images[0].Version != "1.0.0+0" {
		t.Fatalf("%s", notes(res))
	}
	// image_ok holding garbage with a good magic: the table matches nothing.
	r.install(0, Secondary, b)
	if err := r.bl.io.writeField(sec, r.bl.l.imageOKOff(sec.size), []byte{0x5a}); err != nil {
		t.Fatal(err)
	}
	if err := r.bl.io.writeMagic(sec); err != nil {
		t.Fatal(err)
	}
	if res := r.boot(); res.Images[0].Action != SwapNone {
		t.Fatalf("%s", notes(res))
	}
	// A primary trailer claiming a swap in progress of absurd size is ignored.
	pri := r.bl.l.images[0].primary
	r.install(0, Primary, a)
	r.install(0, Secondary, nil)
	if err := r.bl.io.writeSwapInfo(pri, SwapTest, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.bl.io.writeSwapSize(pri, 0x7fffffff); err != nil {
		t.Fatal(err)
	}
	if err := r.bl.io.writeMagic(pri); err != nil {
		t.Fatal(err)
	}
	res := r.boot()
	if res.Images[0].Version != "1.0.0+0" || !strings.Contains(notes(res), "ignored") {
		t.Fatalf("%s", notes(res))
	}
}

func TestGarbagePrimary(t *testing.T) {
	r := newRig(t, layouts[0].config(SwapMove, 8, 0xff, 1))
	g := make([]byte, 6000)
	rand.NewChaCha8([32]byte{3, 4}).Read(g)
	r.install(0, Primary, g)
	if res, err := r.bl.Boot(); !errors.Is(err, ErrNoBootableImage) || res.Images[0].Booted || res.Images[0].Record != nil {
		t.Fatalf("garbage primary: %v", err)
	}
	// A valid update still rescues the device.
	b := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 2})
	r.install(0, Secondary, b)
	r.request(0, true)
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" {
		t.Fatalf("%s", notes(res))
	}
	if got := r.slotBytes(0, Primary, len(b)); !bytes.Equal(got, b) {
		t.Fatal("primary does not hold the update")
	}
}

// TestCutConfirmReverts: a confirm lost to a power cut means the next boot
// reverts, as on a device.
func TestCutConfirmReverts(t *testing.T) {
	r, _ := oneImage(t, SwapMove)
	r.install(0, Secondary, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 2}))
	r.request(0, false)
	r.boot()
	r.dev.SetFault(&flash.Fault{CutBefore: 1})
	if err := r.bl.Confirm(0); !errors.Is(err, flash.ErrPowerCut) {
		t.Fatal(err)
	}
	r.dev.PowerOn()
	if res := r.boot(); res.Images[0].Action != SwapRevert || res.Images[0].Version != "1.0.0+0" || r.ctr.Get(0) != 1 {
		t.Fatalf("%s", notes(res))
	}
}

// TestPaddedImagesDriveTheBootloader: an image signed with --pad is a test
// request and one signed with --confirm a permanent one, with no
// RequestUpgrade call, as with MCUboot.
func TestPaddedImagesDriveTheBootloader(t *testing.T) {
	for _, align := range []int{8, 32} {
		for _, erased := range []byte{0xff, 0x00} {
			cfg := layouts[0].config(SwapMove, align, erased, 1)
			r := newRig(t, cfg)
			slot := int(cfg.Images[0].Secondary.Size)
			r.install(0, Primary, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000, seed: 1}))
			r.install(0, Secondary, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 2, pad: true, slotSize: slot, maxAlign: cfg.EffectiveMaxAlign(), align: align, erased: erased}))
			if res := r.boot(); res.Images[0].Action != SwapTest {
				t.Fatalf("--pad: %s", notes(res))
			}
			if res := r.boot(); res.Images[0].Action != SwapRevert {
				t.Fatalf("--pad, unconfirmed: %s", notes(res))
			}
			r.install(0, Secondary, makeImage(t, imgSpec{ver: "3.0.0", secCnt: 3, size: 5000, seed: 3, confirm: true, slotSize: slot, maxAlign: cfg.EffectiveMaxAlign(), align: align, erased: erased}))
			if res := r.boot(); res.Images[0].Action != SwapPerm || r.ctr.Get(0) != 3 {
				t.Fatalf("--confirm: %s", notes(res))
			}
		}
	}
}

func TestGeometryMismatch(t *testing.T) {
	cfg := layouts[0].config(SwapMove, 8, 0xff, 1)
	dev, _ := flash.New(flash.Geometry{Sectors: cfg.Flash.Sectors, WriteAlign: 4, ErasedValue: 0xff})
	if _, err := New(dev, cfg, nil, NewCounters(1, 0)); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
}

// TestCutRequestIsAtomic cuts the power before each write of a permanent
// request: afterwards there is either no request or a permanent one, never
// a test request.
func TestCutRequestIsAtomic(t *testing.T) {
	for _, align := range []int{1, 32} {
		r := newRig(t, layouts[0].config(SwapMove, align, 0xff, 1))
		r.install(0, Secondary, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000}))
		snap := r.dev.Clone()
		r.dev.SetFault(nil)
		r.request(0, true)
		total := r.dev.Ops()
		if total != 3 {
			t.Fatalf("a permanent request took %d writes, want 3 (image_ok, swap_info, magic)", total)
		}
		for cut := 1; cut <= total; cut++ {
			r.dev.CopyFrom(snap)
			r.dev.SetFault(&flash.Fault{CutBefore: cut})
			if err := r.bl.RequestUpgrade(0, true); !errors.Is(err, flash.ErrPowerCut) {
				t.Fatal(err)
			}
			r.dev.PowerOn()
			st, _ := r.bl.State()
			if st[0].NextSwap != SwapNone {
				t.Fatalf("align %d cut %d: %s request after a cut before the magic", align, cut, st[0].NextSwap)
			}
			// Asking again completes the request.
			r.request(0, true)
			if st, _ := r.bl.State(); st[0].NextSwap != SwapPerm {
				t.Fatalf("align %d cut %d: retried request is %s", align, cut, st[0].NextSwap)
			}
		}
	}
}
