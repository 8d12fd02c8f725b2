package boot

import (
	"bytes"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"rampart/flash"
	"rampart/image"
)

var sweepFlag = flag.String("sweep", "fast", "power-cut sweep size: fast (a subset, in go test) or full (every layout, alignment and erased value)")

// step is one thing the device does: boot (expecting the versions booted,
// per image) or confirm image i.
type step struct {
	boot    []string
	confirm int
	// none: the boot finds no bootable image (the differential test's
	// scenarios only).
	none bool
}

func bootStep(v ...string) step { return step{boot: v, confirm: -1} }
func confirmStep(i int) step    { return step{confirm: i} }
func noBootStep() step          { return step{boot: []string{}, confirm: -1, none: true} }

// scenario is an upgrade story: setup (never interrupted) then steps, after
// which each image's primary and secondary slots hold the given images and
// the counters have the given values.
type scenario struct {
	name     string
	strategy Strategy
	images   int
	setup    func(r *rig, im *imageSet)
	steps    []step
	// final slot contents by image: index into imageSet.all, -1 to not check
	wantPri, wantSec []int
	wantCtr          []uint32
	// downgrade turns on downgrade prevention (the differential test's
	// scenarios only).
	downgrade bool
	// big makes the images as large as the slots allow, so that the swap
	// moves the sector holding the trailer (the differential test's
	// scenarios only).
	big bool
	// ramLoad signs the images to be loaded into RAM (ram-load).
	ramLoad bool
	// mayLoseUpgrade: after a power cut MCUboot itself may drop an image's
	// upgrade (two-image swap-offset, docs/boot.md §5c), so the
	// differential test checks only that both agree, not the versions.
	mayLoseUpgrade bool
	// mayBrick: after a power cut both bootloaders may be left with no
	// bootable image, and that agreement ends the run (MCUboot's
	// swap-offset defect with an image in one sector, which Rampart
	// reproduces: TestMCUbootSwapOffsetOneSectorCut, docs/boot.md §5c).
	// Set by runDifferential, not by the scenario tables.
	mayBrick bool
}

// imageSet holds the scenario's images: old[i] and new[i] for image i.
type imageSet struct {
	old, new [][]byte
}

func (s *imageSet) get(k int) []byte {
	if k < len(s.old) {
		return s.old[k]
	}
	return s.new[k-len(s.old)]
}

func newImageSet(t testing.TB, n, bodySize int) *imageSet {
	return newImageSetKey(t, n, bodySize, nil)
}

// newImageSetKey signs the images with key (nil: the Ed25519 test key).
func newImageSetKey(t testing.TB, n, bodySize int, key crypto.Signer) *imageSet {
	s := &imageSet{}
	for i := range n {
		var deps []image.Dependency
		if i == 1 {
			// The non-secure image needs the new secure image.
			deps = []image.Dependency{{ImageID: 0, Version: image.Version{Major: 2}}}
		}
		s.old = append(s.old, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: bodySize - 1000 + 300*i, seed: uint64(10 + i), key: key}))
		s.new = append(s.new, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: bodySize + 500*i, deps: deps, seed: uint64(20 + i), record: []string{"SPE", "NSPE"}[i], key: key}))
	}
	return s
}

func factory(r *rig, im *imageSet) {
	for i := range im.old {
		r.install(i, Primary, im.old[i])
	}
}

func stage(perm bool) func(r *rig, im *imageSet) {
	return func(r *rig, im *imageSet) {
		factory(r, im)
		for i := range im.new {
			r.install(i, Secondary, im.new[i])
			r.request(i, perm)
		}
	}
}

func rep(n int, v string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func scenarios() []scenario {
	var out []scenario
	for _, n := range []int{1, 2} {
		o := func(k int) []int { // k=0 old, 1 new, per image
			r := make([]int, n)
			for i := range r {
				r[i] = k*n + i
			}
			return r
		}
		out = append(out,
			scenario{name: fmt.Sprintf("swap-test-revert-%dimg", n), strategy: SwapMove, images: n, setup: stage(false),
				steps:   []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "1.0.0+0")...)},
				wantPri: o(0), wantSec: o(1), wantCtr: ctr(n, 1)},
			scenario{name: fmt.Sprintf("swap-test-confirm-%dimg", n), strategy: SwapMove, images: n, setup: stage(false),
				steps:   append(append([]step{bootStep(rep(n, "2.0.0+0")...)}, confirmSteps(n)...), bootStep(rep(n, "2.0.0+0")...)),
				wantPri: o(1), wantSec: o(0), wantCtr: ctr(n, 2)},
			scenario{name: fmt.Sprintf("swap-perm-%dimg", n), strategy: SwapMove, images: n, setup: stage(true),
				steps:   []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "2.0.0+0")...)},
				wantPri: o(1), wantSec: o(0), wantCtr: ctr(n, 2)},
			scenario{name: fmt.Sprintf("overwrite-%dimg", n), strategy: OverwriteOnly, images: n, setup: stage(false),
				steps:   []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "2.0.0+0")...)},
				wantPri: o(1), wantSec: none(n), wantCtr: ctr(n, 2)},
			scenario{name: fmt.Sprintf("scratch-test-revert-%dimg", n), strategy: SwapScratch, images: n, setup: stage(false),
				steps:   []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "1.0.0+0")...)},
				wantPri: o(0), wantSec: o(1), wantCtr: ctr(n, 1)},
			scenario{name: fmt.Sprintf("scratch-test-confirm-%dimg", n), strategy: SwapScratch, images: n, setup: stage(false),
				steps:   append(append([]step{bootStep(rep(n, "2.0.0+0")...)}, confirmSteps(n)...), bootStep(rep(n, "2.0.0+0")...)),
				wantPri: o(1), wantSec: o(0), wantCtr: ctr(n, 2)},
			scenario{name: fmt.Sprintf("scratch-perm-%dimg", n), strategy: SwapScratch, images: n, setup: stage(true),
				steps:   []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "2.0.0+0")...)},
				wantPri: o(1), wantSec: o(0), wantCtr: ctr(n, 2)},
		)
	}
	// Two images, one permanent and one test upgrade in the same boot; the
	// test one then reverts while the permanent one stays.
	out = append(out, scenario{name: "swap-perm-and-test-2img", strategy: SwapMove, images: 2,
		setup: func(r *rig, im *imageSet) {
			factory(r, im)
			for i, perm := range []bool{true, false} {
				r.install(i, Secondary, im.new[i])
				r.request(i, perm)
			}
		},
		steps:   []step{bootStep("2.0.0+0", "2.0.0+0"), bootStep("2.0.0+0", "1.0.0+0")},
		wantPri: []int{2, 1}, wantSec: []int{0, 3}, wantCtr: []uint32{2, 1}})
	return out
}

// none says: do not check these slots (overwrite-only erases the secondary's
// header and trailer sectors).
func none(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = -1
	}
	return out
}

func confirmSteps(n int) []step {
	var s []step
	for i := range n {
		s = append(s, confirmStep(i))
	}
	return s
}

func ctr(n int, v uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// sweepCounts accumulates what a sweep did.
type sweepCounts struct {
	scenarios, cutPoints, single, chains, boots, failures int
}

// runScenario runs sc once without faults and then once per cut point: the
// power fails before that write or erase of the boot steps, the device
// reboots, and the story continues. Every boot must boot exactly the
// expected authentic images, counters must never go down, and the final
// slots and counters must be as expected.
func runScenario(t *testing.T, cfg *Config, sc scenario, im *imageSet, tear bool, chains int, counts *sweepCounts) {
	base := newRig(t, cfg)
	sc.setup(base, im)
	snapDev, snapCtr := base.dev.Clone(), base.ctr.Clone()
	digests := map[string][]byte{}
	for k := range 2 * sc.images {
		b := im.get(k)
		_, v, err := image.Verify(b, testKey.Public())
		if err != nil {
			t.Fatal(err)
		}
		digests[fmt.Sprintf("%d/%s", k%sc.images, imgVersion(t, b))] = v.Digest
	}
	r := newRig(t, cfg)
	total := -1
	counts.scenarios++
	defer func() {
		if chains > 0 && !t.Failed() {
			rng := rand.New(rand.NewPCG(uint64(total), uint64(len(sc.name))))
			for range chains {
				r.dev.CopyFrom(snapDev)
				*r.ctr = *snapCtr.Clone()
				cuts := make([]int, 2+rng.IntN(4))
				for k := range cuts {
					cuts[k] = 1 + rng.IntN(total)
				}
				if _, failed := runOnce(t, r, sc, im, cuts, tear, digests, counts); failed {
					counts.failures++
					return
				}
				counts.chains++
				counts.cutPoints += len(cuts)
			}
		}
	}()
	for cut := 0; total < 0 || cut <= total; cut++ {
		r.dev.CopyFrom(snapDev)
		*r.ctr = *snapCtr.Clone()
		var cuts []int
		if cut > 0 {
			cuts = []int{cut}
		}
		ops, failed := runOnce(t, r, sc, im, cuts, tear, digests, counts)
		if failed {
			counts.failures++
			if counts.failures > 5 {
				t.FailNow()
			}
		}
		if cut == 0 {
			total = ops
		} else {
			counts.cutPoints++
			counts.single++
		}
	}
}

// runOnce plays the steps with power cuts: the first cut falls before
// operation cuts[0] of the boot steps, each later one before operation
// cuts[k] of the reboot that follows the previous cut (a cut beyond a boot's
// operations carries over to the next boot). It returns the number of boot
// operations of an uninterrupted run.
func runOnce(t *testing.T, r *rig, sc scenario, im *imageSet, cuts []int, tear bool, digests map[string][]byte, counts *sweepCounts) (int, bool) {
	where := fmt.Sprintf("%s cuts %v", sc.name, cuts)
	remaining := 0
	if len(cuts) > 0 {
		remaining, cuts = cuts[0], cuts[1:]
	}
	ops := 0
	prev := make([]uint32, sc.images)
	for si, s := range sc.steps {
		if s.boot == nil {
			r.dev.SetFault(nil)
			if err := r.bl.Confirm(s.confirm); err != nil {
				t.Errorf("%s: confirm: %v", where, err)
				return ops, true
			}
			continue
		}
		var res *Result
		var err error
		for {
			if remaining > 0 {
				r.dev.SetFault(&flash.Fault{CutBefore: remaining, Tear: tear, TearNum: 1, TearDen: 2})
			} else {
				r.dev.SetFault(nil)
			}
			res, err = r.bl.Boot()
			counts.boots++
			n := r.dev.Ops()
			ops += n
			if errors.Is(err, flash.ErrPowerCut) {
				// Power is back: the device reboots, maybe to be cut again.
				r.dev.PowerOn()
				remaining = 0
				if len(cuts) > 0 {
					remaining, cuts = cuts[0], cuts[1:]
				}
				continue
			}
			if remaining > 0 {
				remaining -= n
			}
			break
		}
		if err != nil {
			t.Errorf("%s step %d: %v\n%s", where, si, err, notes(res))
			return ops, true
		}
		for i, want := range s.boot {
			got := res.Images[i]
			if tear {
				// A torn write may complete the byte that matters (say
				// copy_done), after which MCUboot's rules choose the other
				// image: require only an authentic one.
				want = got.Version
			}
			d, known := digests[fmt.Sprintf("%d/%s", i, want)]
			if !known || !got.Booted || got.Version != want || got.Record == nil || !bytes.Equal(got.Record.MeasurementValue, d) {
				t.Errorf("%s step %d: image %d booted %q (booted %v), want %s\n%s", where, si, i, got.Version, got.Booted, want, notes(res))
				return ops, true
			}
			if c := r.ctr.Get(i); c < prev[i] {
				t.Errorf("%s step %d: image %d counter went down %d -> %d", where, si, i, prev[i], c)
				return ops, true
			}
			prev[i] = r.ctr.Get(i)
		}
	}
	return ops, !checkFinal(t, r, sc, im, tear, where)
}

func checkFinal(t *testing.T, r *rig, sc scenario, im *imageSet, tear bool, where string) bool {
	// One more uninterrupted boot settles the counters: a boot with nothing
	// pending raises each to its (confirmed) primary image's value.
	r.dev.SetFault(nil)
	if res, err := r.bl.Boot(); err != nil {
		t.Errorf("%s: final boot: %v\n%s", where, err, notes(res))
		return false
	}
	st, err := r.bl.State()
	if err != nil {
		t.Errorf("%s: state: %v", where, err)
		return false
	}
	for i := range sc.images {
		wantPri, wantSec, wantCtr := sc.wantPri[i], sc.wantSec[i], sc.wantCtr[i]
		if tear && !bytes.Equal(r.slotBytes(i, Primary, len(im.get(wantPri))), im.get(wantPri)) && sc.strategy.swaps() {
			// The other outcome of a torn write: both slots the other way
			// round, with the counter of the image now in the primary.
			wantPri, wantSec = wantSec, wantPri
			wantCtr = uint32(1 + wantPri/sc.images)
		}
		for _, c := range []struct {
			slot SlotName
			want int
		}{{Primary, wantPri}, {Secondary, wantSec}} {
			if c.want < 0 {
				continue
			}
			want := im.get(c.want)
			if got := r.slotBytes(i, c.slot, len(want)); !bytes.Equal(got, want) {
				t.Errorf("%s: image %d %s slot does not hold image %d", where, i, c.slot, c.want)
				return false
			}
		}
		if st[i].NextSwap != SwapNone || st[i].SwapPending {
			t.Errorf("%s: image %d still has a %s swap pending", where, i, st[i].NextSwap)
			return false
		}
		if got := r.ctr.Get(i); got != wantCtr {
			t.Errorf("%s: image %d counter %d, want %d", where, i, got, wantCtr)
			return false
		}
	}
	return true
}

// sweepConfigs lists the (layout, alignment, erased value) combinations of a
// sweep: all of them for -sweep=full, a covering subset otherwise.
func sweepConfigs(full bool) []struct {
	ls     layoutSpec
	align  int
	erased byte
} {
	type c = struct {
		ls     layoutSpec
		align  int
		erased byte
	}
	var out []c
	for li, ls := range layouts {
		for ai, align := range []int{1, 8, 32} {
			for ei, erased := range []byte{0xff, 0x00} {
				// The fast subset still covers every layout, every alignment
				// and both erased values.
				if full || (li+ai+ei)%3 == 0 {
					out = append(out, c{ls, align, erased})
				}
			}
		}
	}
	return out
}

func TestPowerCutSweep(t *testing.T) {
	full := *sweepFlag == "full"
	if !full && *sweepFlag != "fast" {
		t.Fatalf("-sweep=%q: want fast or full", *sweepFlag)
	}
	var counts sweepCounts
	// Random chains of 2 to 5 cuts (a cut, then cuts during the reboots
	// that follow), as MCUboot's perm_with_random_fails.
	chains := 3
	if full {
		chains = 50
	}
	imgs := map[int]*imageSet{}
	for _, c := range sweepConfigs(full) {
		for _, sc := range scenarios() {
			if sc.images > len(c.ls.slotSector) {
				continue
			}
			name := fmt.Sprintf("%s/align%d/erased%02x/%s", c.ls.name, c.align, c.erased, sc.name)
			t.Run(name, func(t *testing.T) {
				cfg := c.ls.config(sc.strategy, c.align, c.erased, sc.images)
				if imgs[sc.images] == nil {
					imgs[sc.images] = newImageSet(t, sc.images, 6000)
				}
				runScenario(t, cfg, sc, imgs[sc.images], false, chains, &counts)
			})
		}
	}
	t.Logf("sweep=%s: %d scenario runs, %d cut points (%d of them in %d random chains of 2-5 cuts), %d boots, %d failures", *sweepFlag, counts.scenarios, counts.cutPoints, counts.cutPoints-counts.single, counts.chains, counts.boots, counts.failures)
}

// TestPowerCutSweepTorn repeats part of the sweep with torn operations: the
// cut write or erase is half done (a prefix of its bytes), which MCUboot's
// simulator does not model.
func TestPowerCutSweepTorn(t *testing.T) {
	var counts sweepCounts
	for _, c := range []struct {
		ls     layoutSpec
		align  int
		erased byte
	}{{layouts[0], 8, 0xff}, {layouts[1], 1, 0x00}, {layouts[2], 32, 0xff}} {
		for _, sc := range scenarios() {
			name := fmt.Sprintf("%s/align%d/erased%02x/%s", c.ls.name, c.align, c.erased, sc.name)
			t.Run(name, func(t *testing.T) {
				runScenario(t, c.ls.config(sc.strategy, c.align, c.erased, sc.images), sc, newImageSet(t, sc.images, 6000), true, 0, &counts)
			})
		}
	}
	t.Logf("torn: %d scenario runs, %d cut points, %d boots, %d failures", counts.scenarios, counts.cutPoints, counts.boots, counts.failures)
}
