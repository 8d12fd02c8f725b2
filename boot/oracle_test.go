package boot

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/boot/internal/mcubootoracle"
	"rampart/flash"
	"rampart/image"
)

// The differential test runs every scenario of the power-cut sweep on
// Rampart's bootloader and on MCUboot's own boot_go (built from the vendor
// tree by mcubootoracle) over identical flash, and compares after every
// boot: the decision (an image booted or not), the image booted, the number
// of flash operations and every byte of every slot. With the same
// operations in the same order, a power cut before operation k leaves both
// devices byte-identical too, so each cut point is compared twice: right
// after the cut and after the reboots that follow.
var (
	oracleCut     = flag.String("oracle.cut", "", "differential test: replay only this cut point, or chain of cuts (12,3,40), after the uncut run")
	oracleMulti   = flag.Bool("oracle.multicut", false, "differential test: also cut two-image swap-move runs (they differ by design, docs/boot.md)")
	oracleLog     = flag.Int("oracle.log", 0, "differential test: MCUboot's log level (0 off .. 4 debug)")
	oracleMemo    = flag.Bool("oracle.memo", true, "differential test: MCUboot verifies each distinct (key, digest, signature) once per library copy and answers again from a memo (false: every boot runs TinyCrypt's verification)")
	oracleFastAES = flag.Bool("oracle.fastaes", true, "differential test: MCUboot's TinyCrypt computes AES-128 blocks with the CPU's AES instructions (the same function; false: TinyCrypt's byte-wise code)")
	oracleKXMemo  = flag.Bool("oracle.kxmemo", true, "differential test: MCUboot's ECIES-P256 and ECIES-X25519 run the ECDH of each distinct key pair once per library copy and answer again from a memo (false: at every boot that loads a body key)")
)

// oracleRig is one configuration run on both bootloaders.
type oracleRig struct {
	cfg    *Config
	l      *layout
	o      *mcubootoracle.Oracle
	areas  []mcubootoracle.Area
	key    []byte // the provisioned key as MCUboot embeds it (SPKI DER)
	dec    any    // the device's decrypt key, with encrypted_images
	ocfg   mcubootoracle.Config
	decDER []byte // dec as PKCS#8, for the oracle
	// trust is a signing key both bootloaders' rigs must also trust (the
	// RSA-2048 key of the RSA-OAEP configurations).
	trust any
}

// newOracleRig builds (or takes from the cache) MCUboot for cfg, or skips
// the test when gcc or MCUboot's sources are missing.
func newOracleRig(t testing.TB, cfg *Config, signer crypto.Signer) *oracleRig {
	t.Helper()
	return newOracleRigDec(t, cfg, signer, encKey)
}

// newOracleRigDec is newOracleRig with the device's decrypt key dec (an EC
// P-256 or X25519 private key) for a map with encrypted_images.
func newOracleRigDec(t testing.TB, cfg *Config, signer crypto.Signer, dec any) *oracleRig {
	t.Helper()
	_, x25519 := dec.(*ecdh.PrivateKey)
	kek, kw := dec.([]byte)
	rsaKey, isRSA := dec.(*rsa.PrivateKey)
	l, err := cfg.layout()
	if err != nil {
		t.Fatal(err)
	}
	ocfg := mcubootoracle.Config{
		Strategy: mcubootoracle.Strategy(cfg.Strategy), MaxAlign: l.maxAlign, MaxSectors: l.maxSectors,
		Images: len(cfg.Images), DowngradePrevention: cfg.DowngradePrevention, Encrypted: cfg.EncryptedImages,
		X25519: cfg.EncryptedImages && x25519, KW: cfg.EncryptedImages && kw,
		SigMemo: *oracleMemo,
		RSA:     cfg.EncryptedImages && isRSA, AES256: cfg.EncryptedImages && cfg.EncryptedKeyBits == 256,
	}
	ocfg.KXMemo = *oracleKXMemo && cfg.EncryptedImages && !kw && !ocfg.RSA && !ocfg.AES256
	ocfg.FastAES = *oracleFastAES && cfg.EncryptedImages && !ocfg.RSA && !ocfg.AES256
	o, err := acquireLib(t, ocfg)
	if errors.Is(err, mcubootoracle.ErrNoMbedTLS3) {
		t.Skipf("MCUboot differential test skipped: %v (see docs/boot.md §10b)", err)
	}
	if errors.Is(err, mcubootoracle.ErrNoSource) {
		t.Skipf("MCUboot differential test skipped: %v (set RAMPART_MCUBOOT to MCUboot's source tree, e.g. ../shared/vendor/mcuboot, and install gcc)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	var trust any
	if pub, ok := signer.Public().(*rsa.PublicKey); ok {
		// MCUboot embeds RSA keys as PKCS#1 RSAPublicKey, as imgtool.
		der, trust = x509.MarshalPKCS1PublicKey(pub), pub
	}
	var decDER []byte
	if cfg.EncryptedImages {
		pk := kek // AES-KW: the raw key-encryption key
		if isRSA {
			// MCUboot parses RSA decrypt keys as PKCS#1 RSAPrivateKey.
			pk = x509.MarshalPKCS1PrivateKey(rsaKey)
		} else if !kw {
			var err error
			if pk, err = x509.MarshalPKCS8PrivateKey(dec); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.SetDecryptKey(pk); err != nil {
			t.Fatal(err)
		}
		decDER = pk
	}
	if cfg.Strategy.ramLoad() {
		if err := o.SetRAM(uint32(cfg.RAM.Offset), uint32(cfg.RAM.Size)); err != nil {
			t.Fatal(err)
		}
	}
	r := &oracleRig{cfg: cfg, l: l, o: o, key: der, dec: dec, ocfg: ocfg, decDER: decDER, trust: trust}
	for i, im := range l.images {
		for k, s := range []*slot{im.primary, im.secondary} {
			a := mcubootoracle.Area{ID: mcubootoracle.PrimaryID(i), Off: s.off, Size: s.size}
			if k == 1 {
				a.ID = mcubootoracle.SecondaryID(i)
			}
			for _, sec := range s.sectors {
				a.Sectors = append(a.Sectors, sec.Size)
			}
			r.areas = append(r.areas, a)
		}
	}
	if s := l.scratch; s != nil && cfg.Strategy == SwapScratch {
		a := mcubootoracle.Area{ID: mcubootoracle.ScratchID, Off: s.off, Size: s.size}
		for _, sec := range s.sectors {
			a.Sectors = append(a.Sectors, sec.Size)
		}
		r.areas = append(r.areas, a)
	}
	return r
}

// boot runs MCUboot once over dev with its security counters ctr and a cut
// before its cut-th operation (0: none).
func (r *oracleRig) boot(dev *flash.Device, ctr []uint32, cut int) (mcubootoracle.Result, error) {
	res, err := r.o.Boot(dev, r.areas, r.key, ctr, cut)
	if err == nil && res.FlashErr != nil {
		err = fmt.Errorf("MCUboot broke a rule of the flash model: %w", res.FlashErr)
	}
	return res, err
}

// diffSlots describes the first difference between two devices' slots, or
// returns "".
func (r *oracleRig) diffSlots(a, b *flash.Device) string {
	var buf slotBufs
	return r.diffSlotsBuf(a, b, &buf)
}

// slotBufs are diffSlotsBuf's read buffers, kept by a worker between its
// comparisons (allocating two slots' worth per boot cost more than the
// comparing).
type slotBufs struct{ x, y []byte }

func (sb *slotBufs) get(n uint32) ([]byte, []byte) {
	if uint32(cap(sb.x)) < n {
		sb.x, sb.y = make([]byte, n), make([]byte, n)
	}
	return sb.x[:n], sb.y[:n]
}

// diffSlotsBuf is diffSlots reading into buf.
func (r *oracleRig) diffSlotsBuf(a, b *flash.Device, buf *slotBufs) string {
	for i, im := range r.l.images {
		areas := []*slot{im.primary, im.secondary}
		if i == 0 && r.l.scratch != nil && r.cfg.Strategy == SwapScratch {
			areas = append(areas, r.l.scratch)
		}
		for k, s := range areas {
			x, y := buf.get(s.size)
			if err := a.Read(s.off, x); err != nil {
				return err.Error()
			}
			if err := b.Read(s.off, y); err != nil {
				return err.Error()
			}
			if bytes.Equal(x, y) {
				continue
			}
			n := 0
			for x[n] == y[n] {
				n++
			}
			count := 0
			for j := range x {
				if x[j] != y[j] {
					count++
				}
			}
			return fmt.Sprintf("image %d %s slot: %d bytes differ, first at slot offset %#x (%s): Rampart %02x, MCUboot %02x",
				i, []string{"primary", "secondary", "scratch"}[k], count, n, r.l.describe(s, uint32(n)), x[n], y[n])
		}
	}
	return ""
}

// describe names the trailer field or region at slot offset off.
func (l *layout) describe(s *slot, off uint32) string {
	switch {
	case off >= l.magicOff(s.size):
		return "magic"
	case off >= l.imageOKOff(s.size) && off < l.imageOKOff(s.size)+uint32(l.maxAlign):
		return "image_ok"
	case off >= l.copyDoneOff(s.size) && off < l.copyDoneOff(s.size)+uint32(l.maxAlign):
		return "copy_done"
	case off >= l.swapInfoOff(s.size) && off < l.swapInfoOff(s.size)+uint32(l.maxAlign):
		return "swap_info"
	case off >= l.swapSizeOff(s.size) && off < l.swapSizeOff(s.size)+uint32(l.maxAlign):
		return "swap_size"
	case off >= l.statusOff(s.size) && l.statusSize() > 0:
		return fmt.Sprintf("swap status record %d", (off-l.statusOff(s.size))/uint32(l.writeAlign))
	}
	for i, sec := range s.sectors {
		if s.off+off < sec.Off+sec.Size {
			return fmt.Sprintf("sector %d", i)
		}
	}
	return "?"
}

// diffCounts accumulates what a differential run did.
type diffCounts struct {
	scenarios, cutPoints, singles, chains, boots int
	// bricked counts the cut runs both bootloaders left with no bootable
	// image (scenario.mayBrick).
	bricked int
	// boots counts what replaying every run from its start boots; ran
	// those actually run, less the boots the cut runs did not repeat
	// because they started from a step snapshot.
	ran int
}

// bootsLine says how many boots ran and how many the step snapshots saved.
func (c diffCounts) bootsLine() string {
	line := fmt.Sprintf("%d boots (Rampart and MCUboot; %d run, %d taken from the uncut runs' step snapshots)", c.boots, c.ran, c.boots-c.ran)
	if c.bricked > 0 {
		line += fmt.Sprintf(", %d cut runs left both with no bootable image (MCUboot's one-sector swap-offset defect)", c.bricked)
	}
	return line
}

// runDifferential plays sc on both bootloaders, uncut, then with one cut
// before every flash operation, then with chains random chains of 2 to 5
// cuts (a cut, then cuts during the reboots that follow), or only the cuts
// -oracle.cut names. The uncut run keeps both devices' state before each
// boot step, and a cut run starts from the one before the step its first
// cut falls in (diffsnap_test.go): the steps before it are the uncut run's,
// already compared. The cut runs are shared out among -oracle.workers
// workers, each with its own devices and its own copy of MCUboot's library
// (MCUboot keeps its state in globals).
func runDifferential(t *testing.T, or *oracleRig, sc scenario, im *imageSet, chains int, sum *diffCounts) {
	// The scenario's own counts, added to the sweep's (which scenarios
	// running in parallel share) when it ends, failed or not.
	counts := &diffCounts{}
	defer sum.add(counts)
	base := newRig(t, or.cfg)
	sc.setup(base, im)
	sc.mayBrick = offsetOneSectorImage(or.cfg, im)
	counts.scenarios++
	start := initialSnap(base.dev, len(or.cfg.Images))
	w0 := newDiffWorker(t, or)
	var snaps stepSnaps
	total, ok := w0.run(t, sc, start, nil, &snaps)
	counts.boots += w0.boots
	counts.ran += w0.boots
	if !ok {
		t.FailNow()
	}
	if sc.images > 1 && sc.strategy == SwapMove && !*oracleMulti {
		// Multi-image swaps are ordered differently on purpose
		// (docs/boot.md §5, deviation 2): with swap-move only the uncut
		// runs of two images compare.
		return
	}
	var jobs [][]int
	if *oracleCut != "" {
		var cuts []int
		for _, f := range strings.Split(*oracleCut, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("-oracle.cut=%s: want cut points from 1, separated by commas", *oracleCut)
			}
			cuts = append(cuts, n)
		}
		jobs = append(jobs, cuts)
	} else {
		for cut := 1; cut <= total; cut++ {
			jobs = append(jobs, []int{cut})
		}
		if total > 0 {
			rng := rand.New(rand.NewPCG(uint64(total), uint64(len(sc.name))))
			for range chains {
				cuts := make([]int, 2+rng.IntN(4))
				for k := range cuts {
					cuts[k] = 1 + rng.IntN(total)
				}
				jobs = append(jobs, cuts)
			}
		}
	}
	workers := []*diffWorker{w0}
	w0.boots = 0
	for k := 1; k < min(diffWorkers(), len(jobs)); k++ {
		workers = append(workers, newDiffWorker(t, or.copyFor(t)))
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for !failed.Load() {
				j := int(next.Add(1)) - 1
				if j >= len(jobs) {
					return
				}
				from := start
				if !*oracleReplay {
					from = snaps.before(jobs[j][0])
				}
				if _, ok := w.run(t, sc, from, jobs[j], nil); !ok {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, w := range workers {
		counts.boots += w.boots + w.restored
		counts.ran += w.boots
		counts.bricked += w.bricked
	}
	if failed.Load() {
		t.FailNow()
	}
	for _, cuts := range jobs {
		counts.cutPoints += len(cuts)
		if len(cuts) == 1 && *oracleCut == "" {
			counts.singles++
		} else if *oracleCut == "" {
			counts.chains++
		}
	}
}

var oracleWorkers = flag.Int("oracle.workers", 0, "differential test: run the cut points in this many workers, each with its own copy of MCUboot (0: GOMAXPROCS)")

func diffWorkers() int {
	if *oracleWorkers > 0 {
		return *oracleWorkers
	}
	return runtime.GOMAXPROCS(0)
}

// copyFor returns the rig with its own copy of the MCUboot library.
func (r *oracleRig) copyFor(t testing.TB) *oracleRig {
	t.Helper()
	o, err := acquireLib(t, r.ocfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.EncryptedImages {
		if err := o.SetDecryptKey(r.decDER); err != nil {
			t.Fatal(err)
		}
	}
	if r.cfg.Strategy.ramLoad() {
		if err := o.SetRAM(uint32(r.cfg.RAM.Offset), uint32(r.cfg.RAM.Size)); err != nil {
			t.Fatal(err)
		}
	}
	c := *r
	c.o = o
	return &c
}

// diffWorker runs cut runs on its own pair of devices and oracle.
type diffWorker struct {
	or     *oracleRig
	rr, mr *rig // Rampart's device; MCUboot's (its Bootloader only confirms, as the application would)
	// boots counts the boots run; restored those a run started from a
	// step snapshot did not repeat (the uncut run's, compared there).
	boots, restored int
	bricked         int
}

func newDiffWorker(t *testing.T, or *oracleRig) *diffWorker {
	w := &diffWorker{or: or, rr: newRig(t, or.cfg), mr: newRig(t, or.cfg)}
	if or.cfg.EncryptedImages {
		w.rr.bl.SetDecryptKey(or.dec)
	}
	if or.trust != nil {
		w.rr.bl.keys = append(w.rr.bl.keys, or.trust)
		w.mr.bl.keys = append(w.mr.bl.keys, or.trust)
	}
	return w
}

// run plays the scenario from the snapshot from with cuts on both devices
// (it may run on another goroutine than the test's: it only reports
// errors); with record set it keeps a snapshot before each boot step.
func (w *diffWorker) run(t *testing.T, sc scenario, from *stepSnap, cuts []int, record *stepSnaps) (int, bool) {
	mctr := from.restore(w.rr, w.mr)
	var c diffCounts
	ops, ok := playBoth(t, w.or, sc, w.rr, w.mr, mctr, cuts, from, &c, record)
	w.boots += c.boots
	w.bricked += c.bricked
	w.restored += 2 * from.boots
	if !ok {
		cs := strings.Trim(strings.ReplaceAll(fmt.Sprint(cuts), " ", ","), "[]")
		t.Logf("replay: go test ./boot -run '%s$' -oracle.cut=%s -oracle.log=4 -v%s", t.Name(), cs, fullArg())
	}
	return ops, ok
}

func fullArg() string {
	if *sweepFlag == "full" {
		return " -sweep=full"
	}
	return ""
}

// playBoth plays the scenario's steps on both devices, from the step and
// operation count of the snapshot from (whose state both devices hold). The
// first cut falls before operation cuts[0] of the boots, counted from the
// first step, each later one before operation cuts[k] of the reboot that
// follows the previous cut (a cut beyond a boot's operations carries over
// to the next boot). It returns the number of boot operations and whether
// both agreed throughout; with record set it keeps a snapshot before each
// boot step.
func playBoth(t *testing.T, or *oracleRig, sc scenario, rr, mr *rig, mctr []uint32, cuts []int, from *stepSnap, counts *diffCounts, record *stepSnaps) (int, bool) {
	where := fmt.Sprintf("%s, cuts %v", sc.name, cuts)
	ops := from.ops
	remaining := 0
	checkVersions := !sc.mayLoseUpgrade || len(cuts) == 0
	if len(cuts) > 0 {
		remaining, cuts = cuts[0]-from.ops, cuts[1:]
	}
	boots := from.boots
	cut := false
	for si, s := range sc.steps {
		if si < from.step {
			continue
		}
		if s.boot != nil && record != nil {
			record.add(si, ops, boots, rr, mr, mctr)
		}
		if s.boot == nil {
			for _, r := range []*rig{rr, mr} {
				r.dev.SetFault(nil)
				if err := r.bl.Confirm(s.confirm); err != nil {
					t.Errorf("%s step %d: confirm: %v", where, si, err)
					return ops, false
				}
			}
			continue
		}
		for {
			// Rampart.
			if remaining > 0 {
				rr.dev.SetFault(&flash.Fault{CutBefore: remaining})
			} else {
				rr.dev.SetFault(nil)
			}
			res, rerr := rr.bl.Boot()
			rops := rr.dev.Ops()
			rr.dev.PowerOn()
			// MCUboot.
			or.o.LogLevel = *oracleLog
			mres, merr := or.boot(mr.dev, mctr, remaining)
			counts.boots += 2
			if merr != nil {
				t.Errorf("%s step %d: MCUboot: %v", where, si, merr)
				return ops, false
			}
			rcut := errors.Is(rerr, flash.ErrPowerCut)
			if rcut != mres.PowerCut || rops != mres.Ops {
				t.Errorf("%s step %d: Rampart: %d operations (power cut %v, %v); MCUboot: %v\n%s", where, si, rops, rcut, rerr, mres, notes(res))
				return ops, false
			}
			if d := or.diffSlotsBuf(rr.dev, mr.dev, &rr.bufs); d != "" {
				t.Errorf("%s step %d (after %s): %s\n%s", where, si, mres, d, notes(res))
				return ops, false
			}
			for i := range mctr {
				if c := rr.ctr.Get(i); c != mctr[i] {
					t.Errorf("%s step %d (after %s): image %d security counter: Rampart %d, MCUboot %d\n%s", where, si, mres, i, c, mctr[i], notes(res))
					return ops, false
				}
			}
			ops += rops
			if rcut {
				cut = true
				remaining = 0
				if len(cuts) > 0 {
					remaining, cuts = cuts[0], cuts[1:]
				}
				continue // both reboot
			}
			if remaining > 0 {
				remaining -= rops
			}
			// The decision and the image booted.
			if (rerr == nil) != (mres.RC == 0) {
				t.Errorf("%s step %d: Rampart boots: %v (%v); MCUboot: %v\n%s", where, si, rerr == nil, rerr, mres, notes(res))
				return ops, false
			}
			if rerr != nil && s.none && errors.Is(rerr, ErrNoBootableImage) {
				boots++
				break // neither boots, as the step expects
			}
			if s.none {
				t.Errorf("%s step %d: both boot, the scenario expects neither\n%s", where, si, notes(res))
				return ops, false
			}
			if rerr != nil && cut && sc.mayBrick && errors.Is(rerr, ErrNoBootableImage) {
				// The same bytes on both and neither boots: the
				// scenario cannot go on.
				counts.bricked++
				return ops, true
			}
			if rerr != nil {
				t.Errorf("%s step %d: neither boots: %v", where, si, rerr)
				return ops, false
			}
			want := or.l.images[0].primary
			if or.cfg.Strategy.directXIP() {
				want, _ = rr.bl.slot(0, res.Images[0].Slot)
				// The application confirms the slots it runs from.
				for i := range res.Images {
					mr.bl.active[i] = res.Images[i].Slot
				}
			}
			if mres.ImageOff != want.off {
				t.Errorf("%s step %d: MCUboot boots the image at %#x, Rampart the one at %#x", where, si, mres.ImageOff, want.off)
				return ops, false
			}
			if or.cfg.Strategy.ramLoad() && !bytes.Equal(rr.bl.RAM(), or.o.RAM()) {
				t.Errorf("%s step %d: the RAM regions differ after the boot (Rampart loaded %d bytes at %#x)\n%s", where, si, res.Images[0].LoadSize, res.Images[0].LoadAddr, notes(res))
				return ops, false
			}
			for i, want := range s.boot {
				if got := res.Images[i].Version; got != want && checkVersions {
					t.Errorf("%s step %d: image %d: both boot %s, the scenario expects %s\n%s", where, si, i, got, want, notes(res))
					return ops, false
				}
			}
			boots++
			break
		}
	}
	return ops, true
}

// oracleScenarios are the sweep's scenarios.
//
// Two more run only here, with downgrade prevention on: the secondary holds
// an older image with a permanent request, which both bootloaders erase
// (MCUboot's boot_validate_slot with overwrite-only, its
// check_downgrade_prevention with swap-move).
func oracleScenarios() []scenario {
	out := scenarios()
	for _, st := range []Strategy{SwapMove, OverwriteOnly} {
		out = append(out, scenario{name: fmt.Sprintf("%s-downgrade-refused-1img", st), strategy: st, images: 1, downgrade: true,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.new[0])
				r.install(0, Secondary, im.old[0])
				r.request(0, true)
			},
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}})
		// A tampered candidate: both erase the secondary slot and keep
		// the running image.
		out = append(out, scenario{name: fmt.Sprintf("%s-tampered-1img", st), strategy: st, images: 1,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				bad := bytes.Clone(im.new[0])
				bad[100] ^= 0x40
				r.install(0, Secondary, bad)
				r.request(0, false)
			},
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}})
		// A request left beside an erased header: swap-move clears the
		// trailer, overwrite-only leaves it.
		out = append(out, scenario{name: fmt.Sprintf("%s-no-image-1img", st), strategy: st, images: 1,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				r.install(0, Secondary, im.new[0])
				r.request(0, false)
				r.eraseSector(0, Secondary, 0)
			},
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}})
	}
	// Images as large as the slots allow: with swap-scratch the first
	// chunk then holds the trailer, whose status goes through the
	// scratch (use_scratch).
	out = append(out, []scenario{
		{name: "scratch-test-revert-big-1img", strategy: SwapScratch, images: 1, big: true, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0")}},
		{name: "scratch-perm-big-1img", strategy: SwapScratch, images: 1, big: true, setup: stage(true),
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		{name: "swap-test-revert-big-1img", strategy: SwapMove, images: 1, big: true, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0")}},
	}...)
	out = append(out, offsetScenarios()...)
	// Direct-XIP: the highest valid version runs in place; with revert a
	// slot needs a good trailer magic and is erased if it booted once
	// without being confirmed.
	xipFactory := func(perm, request bool) func(r *rig, im *imageSet) {
		return func(r *rig, im *imageSet) {
			r.install(0, Primary, im.old[0])
			r.install(0, Secondary, im.new[0])
			if request {
				r.confirmTrailer(0, Primary)
				r.request(0, perm)
			}
		}
	}
	out = append(out, []scenario{
		{name: "xip-plain-1img", strategy: DirectXIP, images: 1, setup: xipFactory(false, false),
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		{name: "xip-tampered-1img", strategy: DirectXIP, images: 1,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				bad := bytes.Clone(im.new[0])
				bad[100] ^= 0x40
				r.install(0, Secondary, bad)
			},
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		{name: "xip-revert-test-revert-1img", strategy: DirectXIPRevert, images: 1, setup: xipFactory(false, true),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		{name: "xip-revert-test-confirm-1img", strategy: DirectXIPRevert, images: 1, setup: xipFactory(false, true),
			steps: []step{bootStep("2.0.0+0"), confirmStep(0), bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		{name: "xip-revert-perm-1img", strategy: DirectXIPRevert, images: 1, setup: xipFactory(true, true),
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
	}...)
	// RAM-load: the highest valid version is copied into RAM and runs
	// there; an image without the RAM_LOAD flag, loading outside the RAM
	// region or failing validation is erased (and cleared from RAM).
	for _, c := range []struct {
		name string
		edit func(r *rig, im *imageSet) []byte
	}{
		{"ram-load-1img", func(r *rig, im *imageSet) []byte { return im.new[0] }},
		{"ram-load-tampered-1img", func(r *rig, im *imageSet) []byte {
			bad := bytes.Clone(im.new[0])
			bad[100] ^= 0x40
			return bad
		}},
		{"ram-load-no-flag-1img", func(r *rig, im *imageSet) []byte {
			return makeImage(r.t, imgSpec{ver: "3.0.0", secCnt: 3, size: 5000, seed: 5, key: ecdsaKey})
		}},
		{"ram-load-outside-ram-1img", func(r *rig, im *imageSet) []byte {
			return makeImage(r.t, imgSpec{ver: "3.0.0", secCnt: 3, size: 5000, seed: 5, key: ecdsaKey, loadAddr: testRAMStart + 0x10000 - 100})
		}},
	} {
		want := "1.0.0+0"
		if c.name == "ram-load-1img" {
			want = "2.0.0+0"
		}
		out = append(out, scenario{name: c.name, strategy: RAMLoad, images: 1, ramLoad: true,
			setup: func(r *rig, im *imageSet) {
				r.install(0, Primary, im.old[0])
				r.install(0, Secondary, c.edit(r, im))
			},
			steps: []step{bootStep(want), bootStep(want)}})
	}
	// Reverts whose image is gone: its header erased (MCUboot's "stuck
	// revert": both trailers cleared, the tested image stays), or its body
	// corrupt (the secondary erased, then the same).
	for _, c := range []struct {
		name string
		sec  int
	}{{"erased", 0}, {"corrupt", 1}} {
		out = append(out, scenario{name: fmt.Sprintf("swap-revert-%s-target-1img", c.name), strategy: SwapMove, images: 1,
			setup: func(r *rig, im *imageSet) {
				stage(false)(r, im)
				r.boot()
				r.eraseSector(0, Secondary, c.sec)
				if c.sec > 0 {
					sl, _ := r.bl.slot(0, Secondary)
					junk := bytes.Repeat([]byte{0x5a}, int(sl.sectors[c.sec].Size))
					if err := r.dev.Write(sl.sectors[c.sec].Off, junk); err != nil {
						r.t.Fatal(err)
					}
				}
			},
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0"), bootStep("2.0.0+0")}})
	}
	return out
}

// confirmTrailer writes a confirmed trailer (image_ok, then the magic) in
// image i's slot s, as imgtool --confirm does.
func (r *rig) confirmTrailer(i int, s SlotName) {
	r.t.Helper()
	sl, err := r.bl.slot(i, s)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.bl.io.writeFlag(sl, r.bl.l.imageOKOff(sl.size)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.bl.io.writeMagic(sl); err != nil {
		r.t.Fatal(err)
	}
}

// eraseSector erases sector k of image i's slot s.
func (r *rig) eraseSector(i int, s SlotName, k int) {
	r.t.Helper()
	sl, err := r.bl.slot(i, s)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.bl.io.eraseSector(sl, k); err != nil {
		r.t.Fatal(err)
	}
}

func TestMCUbootDifferential(t *testing.T) {
	full := *sweepFlag == "full"
	var counts diffCounts
	chains := 3
	if full {
		chains = 30
	}
	// The fast subset: every mode (test with revert, test with confirm,
	// permanent, overwrite) cut at every operation, on two layouts, both
	// erased values and the smallest and largest alignment.
	fast := map[string]bool{
		"uniform-4k/align8/erasedff/swap-test-revert-1img":                 true,
		"uniform-4k/align8/erasedff/swap-perm-1img":                        true,
		"small-1k-big-boot/align32/erased00/swap-test-confirm-1img":        true,
		"small-1k-big-boot/align32/erased00/overwrite-1img":                true,
		"mixed-2k-8k/align1/erasedff/overwrite-1img":                       true,
		"uniform-4k/align8/erasedff/swap-perm-and-test-2img":               true,
		"equal-slots-2k/align8/erased00/overwrite-2img":                    true,
		"uniform-4k/align8/erasedff/swap-move-downgrade-refused-1img":      true,
		"uniform-4k/align8/erasedff/overwrite-only-downgrade-refused-1img": true,
		"uniform-4k/align8/erasedff/swap-move-tampered-1img":               true,
		"uniform-4k/align8/erasedff/overwrite-only-no-image-1img":          true,
		"uniform-4k/align8/erasedff/swap-move-no-image-1img":               true,
		"uniform-4k/align8/erasedff/swap-revert-erased-target-1img":        true,
		"uniform-4k/align8/erasedff/swap-revert-corrupt-target-1img":       true,
		"small-1k-big-boot/align32/erased00/scratch-test-revert-1img":      true,
		"uniform-4k/align8/erasedff/scratch-perm-big-1img":                 true,
		"mixed-2k-8k/align8/erasedff/scratch-perm-2img":                    true,
		"small-1k-big-boot/align32/erased00/xip-revert-test-revert-1img":   true,
		"uniform-4k/align8/erasedff/xip-tampered-1img":                     true,
		"mixed-2k-8k/align1/erasedff/ram-load-tampered-1img":               true,
		"uniform-4k/align8/erasedff/offset-test-revert-1img":               true,
	}
	for _, c := range sweepConfigs(true) {
		for _, sc := range oracleScenarios() {
			name := fmt.Sprintf("%s/align%d/erased%02x/%s", c.ls.name, c.align, c.erased, sc.name)
			if !full && !fast[name] {
				continue
			}
			t.Run(name, func(t *testing.T) {
				parallelScenario(t)
				cfg := c.ls.config(sc.strategy, c.align, c.erased, sc.images)
				cfg.DowngradePrevention = sc.downgrade
				or := newOracleRig(t, cfg, ecdsaKey)
				im := newImageSetKey(t, sc.images, scenarioBody(cfg, sc), ecdsaKey)
				if sc.ramLoad {
					im = ramImageSet(t)
				}
				runDifferential(t, or, sc, im, chains, &counts)
			})
		}
	}
	// After the parallel scenarios.
	t.Cleanup(func() {
		t.Logf("sweep=%s: %d scenario runs, %d cut points (%d of them in %d random chains of 2-5 cuts), %s, %s",
			*sweepFlag, counts.scenarios, counts.cutPoints, counts.cutPoints-counts.singles, counts.chains, counts.bootsLine(), agreement(t))
	})
}

var oracleStride = flag.Int("oracle.stride", 8, "BenchmarkMCUbootDifferential1MiB: cut before every n-th operation")

// BenchmarkMCUbootDifferential1MiB cuts the power before every n-th flash
// operation (-oracle.stride) of a permanent 1 MiB swap-move upgrade on both
// bootloaders in the same run, reboots each to completion and checks that
// their flash is byte-identical after the cut and after the reboot. It
// reports each bootloader's cost per cut point (the cut boot and the boot
// that finishes the swap, each validating the 1 MiB image with EC P-256,
// MCUboot without -oracle.memo) and their ratio.
func BenchmarkMCUbootDifferential1MiB(b *testing.B) {
	cfg := mibConfig(SwapMove)
	// Both bootloaders verify the signature at every boot here: MCUboot
	// without the sweep's signature memo.
	memo := *oracleMemo
	*oracleMemo = false
	or := newOracleRig(b, cfg, ecdsaKey)
	*oracleMemo = memo
	base := newRig(b, cfg)
	old := makeImage(b, imgSpec{ver: "1.0.0", secCnt: 1, size: 1 << 20, seed: 1, key: ecdsaKey})
	upd := makeImage(b, imgSpec{ver: "2.0.0", secCnt: 2, size: 1 << 20, seed: 2, key: ecdsaKey})
	base.install(0, Primary, old)
	base.install(0, Secondary, upd)
	base.request(0, true)
	snap := base.dev.Clone()
	rr, mr := newRig(b, cfg), newRig(b, cfg)
	rr.dev.CopyFrom(snap)
	if _, err := rr.bl.Boot(); err != nil {
		b.Fatal(err)
	}
	total := rr.dev.Ops()
	stride := max(1, *oracleStride)
	var tR, tM time.Duration
	points := 0
	b.ResetTimer()
	for range b.N {
		for cut := 1; cut <= total; cut += stride {
			rr.dev.CopyFrom(snap)
			*rr.ctr = *NewCounters(1, 0)
			mr.dev.CopyFrom(snap)
			start := time.Now()
			rr.dev.SetFault(&flash.Fault{CutBefore: cut})
			if _, err := rr.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
				b.Fatalf("cut %d: Rampart: %v", cut, err)
			}
			rr.dev.PowerOn()
			res, err := rr.bl.Boot()
			if err != nil || res.Images[0].Version != "2.0.0+0" {
				b.Fatalf("cut %d: Rampart: %v", cut, err)
			}
			mid := time.Now()
			mctr := []uint32{0}
			if m, err := or.boot(mr.dev, mctr, cut); err != nil || !m.PowerCut {
				b.Fatalf("cut %d: MCUboot: %v %v", cut, m, err)
			}
			if m, err := or.boot(mr.dev, mctr, 0); err != nil || m.RC != 0 {
				b.Fatalf("cut %d: MCUboot: %v %v", cut, m, err)
			}
			tR += mid.Sub(start)
			tM += time.Since(mid)
			if d := or.diffSlots(rr.dev, mr.dev); d != "" {
				b.Fatalf("cut %d: %s", cut, d)
			}
			points++
		}
	}
	b.ReportMetric(float64(total), "ops")
	b.ReportMetric(float64(tR.Microseconds())/float64(points), "rampart-µs/cutpoint")
	b.ReportMetric(float64(tM.Microseconds())/float64(points), "mcuboot-µs/cutpoint")
	b.ReportMetric(float64(tM)/float64(tR), "mcuboot/rampart")
}

// TestMCUbootDifferentialImgtool runs the one-image scenarios with images
// signed by MCUboot's own imgtool (RAMPART_IMGTOOL, run with RAMPART_PYTHON
// or /usr/bin/python3) instead of Rampart's signer, every cut point compared.
func TestMCUbootDifferentialImgtool(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): imgtool-signed differential skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	dir := t.TempDir()
	pem, err := image.MarshalPrivateKeyPEM(ecdsaKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	ls := layouts[0]
	var counts diffCounts
	slotSize := ls.config(SwapMove, 8, 0xff, 1).Images[0].Secondary.Size // the smaller of both strategies
	sign := func(ver string, secCnt uint32, size int, seed uint64) []byte {
		body := make([]byte, size)
		r := rand.New(rand.NewPCG(seed, 7))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		in, out := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.bin")
		if err := os.WriteFile(in, body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, tool, "sign", "--key", keyFile, "--header-size", "32", "--pad-header",
			"--align", "8", "--max-align", "8", "--version", ver, "--security-counter", fmt.Sprint(secCnt),
			"--slot-size", fmt.Sprint(uint32(slotSize)), in, out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("imgtool sign: %v\n%s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	im := &imageSet{old: [][]byte{sign("1.0.0", 1, 5000, 1)}, new: [][]byte{sign("2.0.0", 2, 6000, 2)}}
	for _, sc := range oracleScenarios() {
		if sc.images != 1 || sc.downgrade || sc.ramLoad || sc.big {
			continue
		}
		cfg := ls.config(sc.strategy, 8, 0xff, 1)
		t.Run(sc.name, func(t *testing.T) {
			runDifferential(t, newOracleRig(t, cfg, ecdsaKey), sc, im, 3, &counts)
		})
	}
	t.Logf("imgtool-signed: %d scenario runs, %d cut points, %d boots (Rampart and MCUboot), %s", counts.scenarios, counts.cutPoints, counts.boots, agreement(t))
}

// scenarioBody is the body size of a scenario's new image: 6000 bytes, or
// for a big scenario as large as image 0's slots allow less room for the
// header and the TLVs.
func scenarioBody(cfg *Config, sc scenario) int {
	if !sc.big {
		return 6000
	}
	l, err := cfg.layout()
	if err != nil {
		panic(err)
	}
	return l.images[0].maxImageSize(l) - 32 - 400
}

// ramImageSet is one old and one new image made to run from the start of
// the ram-load test maps' RAM region.
func ramImageSet(t testing.TB) *imageSet {
	return &imageSet{
		old: [][]byte{makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000, seed: 10, key: ecdsaKey, loadAddr: testRAMStart})},
		new: [][]byte{makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 6000, seed: 20, key: ecdsaKey, loadAddr: testRAMStart + 0x100})},
	}
}

// agreement ends a sweep's summary line: "all agreeing" only when no
// scenario of the test failed, so a summary never contradicts its failures.
func agreement(t *testing.T) string {
	if t.Failed() {
		return "SOME DISAGREEING (see the failures above)"
	}
	return "all agreeing"
}
