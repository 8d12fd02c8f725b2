package boot

import (
	"errors"
	"strings"
	"testing"
)

// TestSwapOffsetPlacementAndRevert follows one swap-offset test upgrade and
// its revert through the slots: the update is installed one sector into
// the secondary; after the upgrade the old image starts the secondary
// slot; after the revert the new image is back one sector in and the
// secondary's first sector is erased. The trailer has the extra TLV-sizes
// field and two status records per sector.
func TestSwapOffsetPlacementAndRevert(t *testing.T) {
	cfg := layouts[0].config(SwapOffset, 8, 0xff, 1)
	r := newRig(t, cfg)
	im := newImageSetKey(t, 1, 5000, ecdsaKey)
	l := r.bl.l
	if got, want := l.infoSize(), 5*8+16; got != want {
		t.Errorf("trailer info %d bytes, want %d (swap_size, TLV sizes, swap_info, copy_done, image_ok, magic)", got, want)
	}
	if got, want := l.statusSize(), l.maxSectors*2*8; got != want {
		t.Errorf("status %d bytes, want %d", got, want)
	}
	pri := l.images[0].primary
	if l.tlvSizesOff(pri.size) != l.swapInfoOff(pri.size)-8 || l.swapSizeOff(pri.size) != l.tlvSizesOff(pri.size)-8 {
		t.Errorf("trailer field order: swap_size %#x, TLV sizes %#x, swap_info %#x", l.swapSizeOff(pri.size), l.tlvSizesOff(pri.size), l.swapInfoOff(pri.size))
	}
	stage(false)(r, im)
	sz := int(l.images[0].secondary.sectors[0].Size)
	whole := int(l.images[0].secondary.size)
	sec := r.slotBytes(0, Secondary, whole)
	if !allEqual(sec[:sz], 0xff) || imgVersion(t, sec[sz:]) != "2.0.0+0" {
		t.Fatal("the update is not one sector into the secondary slot")
	}
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" || res.Images[0].Action != SwapTest {
		t.Fatalf("first boot: %+v\n%s", res.Images[0], notes(res))
	}
	if v := imgVersion(t, r.slotBytes(0, Secondary, whole)); v != "1.0.0+0" {
		t.Errorf("after the upgrade the secondary starts with %s, want the old image", v)
	}
	res := r.boot()
	if res.Images[0].Version != "1.0.0+0" || res.Images[0].Action != SwapRevert {
		t.Fatalf("second boot: %+v\n%s", res.Images[0], notes(res))
	}
	sec = r.slotBytes(0, Secondary, whole)
	if !allEqual(sec[:sz], 0xff) || imgVersion(t, sec[sz:]) != "2.0.0+0" {
		t.Error("after the revert the tested image is not back one sector into the secondary slot")
	}
	if res := r.boot(); res.Images[0].Version != "1.0.0+0" || res.Images[0].Action != SwapNone {
		t.Fatalf("third boot: %+v\n%s", res.Images[0], notes(res))
	}
}

// TestSwapOffsetSlotChecks: swap-offset needs the secondary as large as
// the primary or one sector larger, and one sector size.
func TestSwapOffsetSlotChecks(t *testing.T) {
	good := layouts[0].config(SwapOffset, 8, 0xff, 1)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	swapMoveShape := layouts[0].config(SwapMove, 8, 0xff, 1)
	swapMoveShape.Strategy = SwapOffset
	err := swapMoveShape.Validate()
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "swap-offset needs the secondary slot") {
		t.Errorf("a primary larger than the secondary: %v", err)
	}
	mixed := layouts[2].config(SwapOffset, 8, 0xff, 1)
	mixed.EncryptedImages = true
	if err := mixed.Validate(); err != nil {
		t.Errorf("encrypted images with swap-offset refused: %v", err)
	}
	for _, st := range []Strategy{DirectXIP, DirectXIPRevert} {
		xip := layouts[0].config(st, 8, 0xff, 1)
		xip.EncryptedImages = true
		if err := xip.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "use ram-load") {
			t.Errorf("encrypted images with %s: %v, want refused as MCUboot refuses them", st, err)
		}
	}
}

// TestSwapOffsetHostileStatus boots over primary trailers an attacker (or
// a corrupt flash) left: a swap recorded with sizes and records that no
// swap wrote. The boot must not fail on them, only ignore or finish them,
// and the device keeps a bootable image where one is left.
func TestSwapOffsetHostileStatus(t *testing.T) {
	cfg := layouts[0].config(SwapOffset, 8, 0xff, 1)
	im := newImageSetKey(t, 1, 5000, ecdsaKey)
	for _, c := range []struct {
		name    string
		size    uint32
		records int
		typ     SwapType
	}{
		{"huge-size", 0xffff0000, 3, SwapTest},
		{"zero-size", 0, 2, SwapPerm},
		{"all-records", 6000, 2 * 9, SwapRevert},
		{"no-type", 6000, 1, SwapNone},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, cfg)
			factory(r, im)
			l := r.bl.l
			pri := l.images[0].primary
			io := r.bl.io
			if c.typ != SwapNone {
				if err := io.writeSwapInfo(pri, c.typ, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := io.writeSwapSize(pri, c.size); err != nil {
				t.Fatal(err)
			}
			for k := range c.records {
				if err := io.writeField(pri, l.statusOff(pri.size)+uint32(k*l.writeAlign), []byte{byte(k%2 + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := io.writeMagic(pri); err != nil {
				t.Fatal(err)
			}
			res, err := r.bl.Boot()
			if err != nil && !errors.Is(err, ErrNoBootableImage) {
				t.Fatalf("boot: %v\n%s", err, notes(res))
			}
			if _, err := r.bl.State(); err != nil {
				t.Fatalf("state: %v", err)
			}
		})
	}
}
