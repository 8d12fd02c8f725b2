package boot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"rampart/flash"
)

// offsetScenarios are the swap-offset scenarios of the differential test
// (docs/boot.md §5c): the update is installed one sector into the
// secondary slot, as MCUboot expects it.
func offsetScenarios() []scenario {
	var out []scenario
	for _, n := range []int{1, 2} {
		out = append(out,
			scenario{name: fmt.Sprintf("offset-test-revert-%dimg", n), strategy: SwapOffset, images: n, setup: stage(false), mayLoseUpgrade: n > 1,
				steps: []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "1.0.0+0")...), bootStep(rep(n, "1.0.0+0")...)}},
			scenario{name: fmt.Sprintf("offset-test-confirm-%dimg", n), strategy: SwapOffset, images: n, setup: stage(false), mayLoseUpgrade: n > 1,
				steps: append(append([]step{bootStep(rep(n, "2.0.0+0")...)}, confirmSteps(n)...), bootStep(rep(n, "2.0.0+0")...))},
			scenario{name: fmt.Sprintf("offset-perm-%dimg", n), strategy: SwapOffset, images: n, setup: stage(true), mayLoseUpgrade: n > 1,
				steps: []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "2.0.0+0")...)}},
		)
	}
	out = append(out,
		// Images as large as the slots allow: the last step copies the
		// sector just below the trailer's.
		scenario{name: "offset-test-revert-big-1img", strategy: SwapOffset, images: 1, big: true, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		scenario{name: "offset-downgrade-refused-1img", strategy: SwapOffset, images: 1, downgrade: true,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.new[0])
				r.install(0, Secondary, im.old[0])
				r.request(0, true)
			},
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		scenario{name: "offset-tampered-1img", strategy: SwapOffset, images: 1,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				bad := bytes.Clone(im.new[0])
				bad[100] ^= 0x40
				r.install(0, Secondary, bad)
				r.request(0, false)
			},
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		// An update written at the slot's start instead of one sector in:
		// MCUboot refuses it ("wrong upload address") and erases the slot.
		scenario{name: "offset-wrong-address-1img", strategy: SwapOffset, images: 1,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				sl, _ := r.bl.slot(0, Secondary)
				if err := r.bl.io.eraseFrom(sl, 0); err != nil {
					r.t.Fatal(err)
				}
				buf := append(bytes.Clone(im.new[0]), bytes.Repeat([]byte{r.cfg.Flash.ErasedValue}, 64)...)
				buf = buf[:alignUp(len(im.new[0]), r.cfg.Flash.WriteAlign)]
				if err := r.dev.Write(sl.off, buf); err != nil {
					r.t.Fatal(err)
				}
				r.request(0, false)
			},
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
	)
	return out
}

// offsetOneSectorImage reports whether some image of a swap-offset scenario
// fits into one sector of its slots: MCUboot then does not resume a swap
// cut in its second step (TestMCUbootSwapOffsetOneSectorCut).
func offsetOneSectorImage(cfg *Config, im *imageSet) bool {
	if cfg.Strategy != SwapOffset {
		return false
	}
	l, err := cfg.layout()
	if err != nil {
		panic(err)
	}
	for i := range im.old {
		sz := int(offsetSectorSize(l.images[i]))
		if max(len(im.old[i]), len(im.new[i])) <= sz {
			return true
		}
	}
	return false
}

// TestMCUbootSwapOffsetOneSectorCut shows an MCUboot swap-offset defect the
// differential test found, and that Rampart reproduces it: when both images
// fit into one sector (last_idx 0), a power cut during the second step
// (the primary's sector 0 erased, the new image being copied into it)
// leaves a status boot_read_image_header cannot place (it compares the
// 1-based status index with the 0-based last index and looks for the
// primary's header in the primary slot); MCUboot then fails to read the
// headers, does not resume, and the device has no bootable image. Both
// bootloaders leave the same bytes and neither boots. docs/boot.md §5c.
func TestMCUbootSwapOffsetOneSectorCut(t *testing.T) {
	cfg := layouts[0].config(SwapOffset, 8, 0xff, 1)
	or := newOracleRig(t, cfg, ecdsaKey)
	im := newImageSetKey(t, 1, 2500, ecdsaKey)
	base := newRig(t, cfg)
	stage(true)(base, im)
	snap := base.dev.Clone()
	// The operations of the upgrade: trailer set-up (erase, swap_info,
	// image_ok, swap_size, TLV sizes, magic, erase), step 0 (erase, 4
	// writes, record), then step 1's erase: cut before its first write.
	cut := 7 + 6 + 1 + 1
	rr, mr := newRig(t, cfg), newRig(t, cfg)
	rr.dev.CopyFrom(snap)
	mr.dev.CopyFrom(snap)
	mctr := make([]uint32, 1)
	rr.dev.SetFault(&flash.Fault{CutBefore: cut})
	if _, err := rr.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
		t.Fatalf("Rampart: cut at %d: %v", cut, err)
	}
	rr.dev.PowerOn()
	if res, err := or.boot(mr.dev, mctr, cut); err != nil || !res.PowerCut {
		t.Fatalf("MCUboot: cut at %d: %+v %v", cut, res, err)
	}
	if d := or.diffSlots(rr.dev, mr.dev); d != "" {
		t.Fatalf("after the cut: %s", d)
	}
	rr.dev.SetFault(nil)
	res, rerr := rr.bl.Boot()
	mres, merr := or.boot(mr.dev, mctr, 0)
	if merr != nil {
		t.Fatal(merr)
	}
	if d := or.diffSlots(rr.dev, mr.dev); d != "" {
		t.Fatalf("after the reboot: %s", d)
	}
	if !errors.Is(rerr, ErrNoBootableImage) || mres.RC == 0 {
		t.Fatalf("expected neither to boot (MCUboot's defect); Rampart: %v, MCUboot rc %d\n%s", rerr, mres.RC, notes(res))
	}
	if !strings.Contains(notes(res), "not found where the swap left it") {
		t.Errorf("Rampart's notes do not say why the swap was not resumed:\n%s", notes(res))
	}
}
