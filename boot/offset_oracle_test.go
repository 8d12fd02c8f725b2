package boot

import (
	"bytes"
	"fmt"
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
