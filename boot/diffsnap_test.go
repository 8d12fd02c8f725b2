package boot

import (
	"flag"
	"slices"
	"testing"

	"rampart/flash"
)

var oracleReplay = flag.Bool("oracle.replay", false, "differential test: replay every cut run from the scenario's start instead of from the uncut run's snapshot before the step the first cut falls in")

// stepSnap is what both devices of a differential run hold before one boot
// step of the uncut run: the flash, the security counters and the slot
// each image last booted from (direct-XIP's Confirm marks it). Both
// bootloaders are deterministic, so a cut run whose first cut falls in
// step k plays steps 0..k-1 exactly as the uncut run did; it starts from
// here instead of playing them again. The uncut run has compared every
// boot of those steps already.
type stepSnap struct {
	step  int // the scenario step the run starts at
	ops   int // boot operations of the steps before it
	boots int // boots (per bootloader) of the steps before it
	rdev  *flash.Device
	mdev  *flash.Device
	rctr  *Counters
	mctr  []uint32
	// ractive and mactive are the Bootloaders' active slots (nil: unset).
	ractive, mactive []SlotName
}

// initialSnap is the state after the scenario's setup: both devices hold
// dev, every counter is 0.
func initialSnap(dev *flash.Device, images int) *stepSnap {
	return &stepSnap{rdev: dev.Clone(), mdev: dev.Clone(), rctr: NewCounters(images, 0), mctr: make([]uint32, images)}
}

// restore puts the snapshot's state on Rampart's rig rr and MCUboot's rig
// mr, and returns MCUboot's counters to play on.
func (s *stepSnap) restore(rr, mr *rig) []uint32 {
	rr.dev.CopyFrom(s.rdev)
	mr.dev.CopyFrom(s.mdev)
	*rr.ctr = *s.rctr.Clone()
	restoreActive(rr.bl, s.ractive)
	restoreActive(mr.bl, s.mactive)
	return slices.Clone(s.mctr)
}

func restoreActive(b *Bootloader, a []SlotName) {
	if a == nil {
		clear(b.active)
		return
	}
	copy(b.active, a)
}

// stepSnaps are the uncut run's snapshots, one before each boot step, in
// step order.
type stepSnaps []*stepSnap

// add keeps the state both rigs hold before boot step si, after ops boot
// operations and boots boots.
func (ss *stepSnaps) add(si, ops, boots int, rr, mr *rig, mctr []uint32) {
	*ss = append(*ss, &stepSnap{
		step: si, ops: ops, boots: boots,
		rdev: rr.dev.Clone(), mdev: mr.dev.Clone(),
		rctr: rr.ctr.Clone(), mctr: slices.Clone(mctr),
		ractive: slices.Clone(rr.bl.active), mactive: slices.Clone(mr.bl.active),
	})
}

// before returns the snapshot to start a run whose first cut falls before
// boot operation cut (counted from the first step): the last one taken
// before fewer than cut operations had been done.
func (ss stepSnaps) before(cut int) *stepSnap {
	best := ss[0]
	for _, s := range ss {
		if s.ops < cut {
			best = s
		}
	}
	return best
}

func TestStepSnapsBefore(t *testing.T) {
	ss := stepSnaps{{step: 0, ops: 0}, {step: 1, ops: 10}, {step: 3, ops: 10}, {step: 4, ops: 25}}
	for _, c := range []struct{ cut, step int }{{1, 0}, {10, 0}, {11, 3}, {25, 3}, {26, 4}} {
		if got := ss.before(c.cut).step; got != c.step {
			t.Errorf("cut %d: starts at step %d, want %d", c.cut, got, c.step)
		}
	}
}

// TestMCUbootDifferentialSnapshotsMatchReplay runs one scenario with every
// cut run replayed from the start and again from the step snapshots: the
// same cut points and boots agree, and the snapshots spare some boots.
func TestMCUbootDifferentialSnapshotsMatchReplay(t *testing.T) {
	cfg := layouts[0].config(SwapMove, 8, 0xff, 1)
	var sc scenario
	for _, s := range scenarios() {
		if s.name == "swap-test-revert-1img" {
			sc = s
		}
	}
	or := newOracleRig(t, cfg, ecdsaKey)
	im := newImageSetKey(t, 1, 6000, ecdsaKey)
	var counts [2]diffCounts
	defer func(v bool) { *oracleReplay = v }(*oracleReplay)
	for k, replay := range []bool{true, false} {
		*oracleReplay = replay
		runDifferential(t, or, sc, im, 3, &counts[k])
	}
	r, s := counts[0], counts[1]
	if r.cutPoints != s.cutPoints || r.boots != s.boots || r.ran != r.boots || s.ran >= s.boots {
		t.Errorf("replayed: %d cut points, %s; from snapshots: %d cut points, %s", r.cutPoints, r.bootsLine(), s.cutPoints, s.bootsLine())
	}
}
