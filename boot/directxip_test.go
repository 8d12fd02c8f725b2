package boot

import (
	"bytes"
	"errors"
	"testing"
)

// TestRAMLoadCopiesImage checks that ram-load boots the newer image from
// the secondary slot by copying it whole to its load address, and that the
// RAM is cleared of an image that then fails validation.
func TestRAMLoadCopiesImage(t *testing.T) {
	cfg := layouts[0].config(RAMLoad, 8, 0xff, 1)
	im := ramImageSet(t)
	r := newRig(t, cfg)
	r.install(0, Primary, im.old[0])
	r.install(0, Secondary, im.new[0])
	res, err := r.bl.Boot()
	if err != nil {
		t.Fatalf("%v\n%s", err, notes(res))
	}
	got := res.Images[0]
	if got.Version != "2.0.0+0" || got.Slot != Secondary || got.LoadAddr != testRAMStart+0x100 || int(got.LoadSize) != len(im.new[0]) {
		t.Fatalf("booted %s from %s, loaded %d bytes at %#x", got.Version, got.Slot, got.LoadSize, got.LoadAddr)
	}
	if ram := r.bl.RAM(); !bytes.Equal(ram[0x100:0x100+len(im.new[0])], im.new[0]) || ram[0] != 0 {
		t.Fatal("the RAM does not hold exactly the image at its load address")
	}

	// The new image tampered: cleared from RAM, its slot erased, the old
	// one loaded at its own address (on a device whose counter was not
	// raised: the first boot raised it to 2, which refuses the old image).
	*r.ctr = *NewCounters(1, 0)
	bad := bytes.Clone(im.new[0])
	bad[100] ^= 0x40
	r.install(0, Secondary, bad)
	res, err = r.bl.Boot()
	if err != nil || res.Images[0].Version != "1.0.0+0" || res.Images[0].LoadAddr != testRAMStart {
		t.Fatalf("after tampering: %v\n%s", err, notes(res))
	}
	ram := r.bl.RAM()
	if !bytes.Equal(ram[:len(im.old[0])], im.old[0]) || ram[len(im.old[0])+200] != 0 {
		t.Fatal("the RAM holds more than the old image")
	}
	if st, _ := r.bl.State(); st[0].Secondary.Problem != "empty" {
		t.Fatalf("the tampered secondary was not erased: %+v", st[0].Secondary)
	}
}

// TestDirectXIPConfirm checks that confirming marks the slot the image runs
// from, and that there is nothing to confirm before a boot.
func TestDirectXIPConfirm(t *testing.T) {
	cfg := layouts[0].config(DirectXIPRevert, 8, 0xff, 1)
	im := newImageSetKey(t, 1, 6000, ecdsaKey)
	r := newRig(t, cfg)
	r.install(0, Primary, im.old[0])
	r.confirmTrailer(0, Primary)
	r.install(0, Secondary, im.new[0])
	r.request(0, false)
	if err := r.bl.Confirm(0); !errors.Is(err, ErrUnsupportedRequest) {
		t.Fatalf("Confirm before a boot: %v", err)
	}
	res, err := r.bl.Boot()
	if err != nil || res.Images[0].Slot != Secondary || r.ctr.Get(0) != 0 {
		t.Fatalf("first boot: %v, counter %d\n%s", err, r.ctr.Get(0), notes(res))
	}
	if err := r.bl.Confirm(0); err != nil {
		t.Fatal(err)
	}
	res, err = r.bl.Boot()
	if err != nil || res.Images[0].Version != "2.0.0+0" || r.ctr.Get(0) != 2 {
		t.Fatalf("after confirming: %v, counter %d\n%s", err, r.ctr.Get(0), notes(res))
	}
}

// TestRAMLoadConfig: ram-load needs a RAM region.
func TestRAMLoadConfig(t *testing.T) {
	cfg := layouts[0].config(RAMLoad, 8, 0xff, 1)
	cfg.RAM = nil
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("ram-load without ram: %v", err)
	}
}
