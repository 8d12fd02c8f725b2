package boot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"rampart/flash"
)

// The encrypted-image guarantees of docs/boot.md §10b for the modes beyond
// swap-move and overwrite-only, on Rampart alone (no MCUboot needed): a
// tampered encrypted image is refused and its slot erased, and a power cut
// before any flash operation of an encrypted upgrade and of its revert
// leaves a device that boots the image it should, the primary slot (or
// RAM) in plaintext.

// encModes are the strategies and AES key sizes checked here.
var encModes = []struct {
	strategy Strategy
	bits     int
}{{SwapScratch, 128}, {SwapOffset, 128}, {SwapMove, 256}, {SwapScratch, 256}, {RAMLoad, 128}, {RAMLoadRevert, 128}}

// encModeConfig is layouts[0] for strategy with encrypted images of bits.
func encModeConfig(t testing.TB, strategy Strategy, bits int, erased byte) *Config {
	t.Helper()
	c := layouts[0].config(strategy, 8, erased, 1)
	c.EncryptedImages = true
	if bits == 256 {
		c.EncryptedKeyBits = 256
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// encModeImages are v1 and v2 encrypted for encKey with AES-bits (ram-load
// images load into RAM); plain[k] is image k decrypted.
func encModeImages(t testing.TB, strategy Strategy, bits int) (wire, plain [2][]byte) {
	if strategy.ramLoad() {
		for k, v := range []string{"1.0.0", "2.0.0"} {
			// One security counter: ram-load-revert raises it at the
			// first boot of a test image (docs/boot.md §5b).
			wire[k] = ramImage(t, v, 1, 9000+2000*k, uint64(90+k), testRAMStart+uint32(0x100*k), encKey, ecdsaKey)
		}
		return wire, plain
	}
	for k, v := range []string{"1.0.0", "2.0.0"} {
		wire[k], plain[k] = encImageBits(t, v, uint32(k+1), 9000+2000*k, uint64(90+k), encKey, ecdsaKey, bits)
	}
	return wire, plain
}

// stageEncMode installs v1 in the primary (plaintext with a swap, as
// shipped with ram-load) and v2 in the secondary with a test request (a
// confirmed v1 trailer first with ram-load-revert).
func stageEncMode(r *rig, wire, plain [2][]byte, sec []byte) {
	if r.cfg.Strategy.ramLoad() {
		r.install(0, Primary, wire[0])
	} else {
		r.install(0, Primary, plain[0])
	}
	r.install(0, Secondary, sec)
	if r.cfg.Strategy == RAMLoadRevert {
		r.confirmTrailer(0, Primary)
	}
	if !r.cfg.Strategy.directXIP() || r.cfg.Strategy == RAMLoadRevert {
		r.request(0, false)
	}
}

func TestEncryptedModesTamperedRefused(t *testing.T) {
	for _, m := range encModes {
		t.Run(fmt.Sprintf("%s/aes%d", m.strategy, m.bits), func(t *testing.T) {
			cfg := encModeConfig(t, m.strategy, m.bits, 0xff)
			r := newEncRig(t, cfg)
			wire, plain := encModeImages(t, m.strategy, m.bits)
			bad := bytes.Clone(wire[1])
			bad[4000] ^= 1
			stageEncMode(r, wire, plain, bad)
			res := r.boot()
			if res.Images[0].Version != "1.0.0+0" {
				t.Fatalf("booted %s\n%s", res.Images[0].Version, notes(res))
			}
			sl, _ := r.bl.slot(0, Secondary)
			sec := make([]byte, sl.size)
			if err := r.dev.Read(sl.off, sec); err != nil {
				t.Fatal(err)
			}
			if !allEqual(sec, 0xff) {
				t.Fatalf("the tampered image's slot was not erased\n%s", notes(res))
			}
		})
	}
}

// TestEncryptedKeySizeMismatchRefused: an AES-128 image on a map set for
// AES-256 (and the reverse) is refused and erased, as MCUboot, whose key
// TLV size is fixed at build time, does.
func TestEncryptedKeySizeMismatchRefused(t *testing.T) {
	for _, bits := range []int{128, 256} {
		t.Run(fmt.Sprintf("map-aes%d", bits), func(t *testing.T) {
			r := newEncRig(t, encModeConfig(t, SwapMove, bits, 0xff))
			wire, plain := encModeImages(t, SwapMove, 384-bits)
			stageEncMode(r, wire, plain, wire[1])
			res := r.boot()
			if res.Images[0].Version != "1.0.0+0" || r.bl.l.bodyKey(r.slotBytes(0, Secondary, len(wire[1])), encKey) != nil {
				t.Fatalf("booted %s, or the image was kept\n%s", res.Images[0].Version, notes(res))
			}
			if !errors.Is(func() error { _, err := r.bl.validate(wire[1], 0, 1<<20, true); return err }(), ErrEncryptedImage) {
				t.Fatal("validate accepted an image of the other key size")
			}
		})
	}
}

// TestEncryptedModesPowerCut cuts the power before every flash operation
// of an encrypted test upgrade and of the revert that follows, then
// reboots: the device boots v2, then v1, each time in plaintext.
func TestEncryptedModesPowerCut(t *testing.T) {
	for _, m := range encModes {
		for _, erased := range []byte{0xff, 0x00} {
			if m.strategy.ramLoad() && erased == 0x00 {
				continue // ram-load keeps no swap state: one erased value is enough
			}
			t.Run(fmt.Sprintf("%s/aes%d/erased%02x", m.strategy, m.bits, erased), func(t *testing.T) {
				cfg := encModeConfig(t, m.strategy, m.bits, erased)
				wire, plain := encModeImages(t, m.strategy, m.bits)
				base := newEncRig(t, cfg)
				stageEncMode(base, wire, plain, wire[1])
				snap := base.dev.Clone()
				r := newEncRig(t, cfg)
				for phase, want := range []string{"2.0.0+0", "1.0.0+0"} {
					if m.strategy == RAMLoad && phase == 1 {
						break // no revert without MCUBOOT_RAM_LOAD_REVERT
					}
					r.dev.CopyFrom(snap)
					for range phase {
						r.boot()
					}
					start := r.dev.Clone()
					r.dev.SetFault(nil)
					r.boot()
					total := r.dev.Ops()
					for cut := 1; cut <= total; cut++ {
						r.dev.CopyFrom(start)
						r.dev.SetFault(&flash.Fault{CutBefore: cut})
						if _, err := r.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
							t.Fatalf("phase %d cut %d: %v", phase, cut, err)
						}
						r.dev.PowerOn()
						res := r.boot()
						got := res.Images[0].Version
						// A cut after ram-load-revert has chosen v2 (its
						// copy_done written) makes v2 look booted and not
						// confirmed: v1 boots, as with MCUboot.
						lost := m.strategy == RAMLoadRevert && phase == 0 && got == "1.0.0+0"
						if got != want && !lost {
							t.Fatalf("phase %d cut %d of %d: booted %s\n%s", phase, cut, total, got, notes(res))
						}
						checkPlaintext(t, r, res, got, plain)
					}
				}
			})
		}
	}
}

// checkPlaintext checks that the image booted as version v runs in
// plaintext: in RAM with ram-load, else in the primary slot.
func checkPlaintext(t *testing.T, r *rig, res *Result, v string, plain [2][]byte) {
	t.Helper()
	k := 0
	if v == "2.0.0+0" {
		k = 1
	}
	if r.cfg.Strategy.ramLoad() {
		im := res.Images[0]
		ram := r.bl.RAM()[im.LoadAddr-testRAMStart : im.LoadAddr-testRAMStart+im.LoadSize]
		if _, err := r.bl.validate(ram, 0, len(ram), false); err != nil {
			t.Fatalf("the image in RAM does not validate as plaintext: %v", err)
		}
		return
	}
	if !bytes.Equal(r.slotBytes(0, Primary, len(plain[k])), plain[k]) {
		t.Fatalf("the primary slot does not hold %s in plaintext", v)
	}
}

// TestRAMLoadRevertCounter pins the ram-load-revert behaviour docs/boot.md
// §5b warns about, which the differential test confirms counter by counter:
// as MCUboot's boot_update_hw_rollback_protection, the security counter
// follows a test image at its first boot, so an unconfirmed test image with
// a higher counter leaves nothing to revert to.
func TestRAMLoadRevertCounter(t *testing.T) {
	cfg := layouts[0].config(RAMLoadRevert, 8, 0xff, 1)
	r := newRig(t, cfg)
	r.install(0, Primary, ramImage(t, "1.0.0", 1, 5000, 1, testRAMStart, nil, ecdsaKey))
	r.install(0, Secondary, ramImage(t, "2.0.0", 2, 6000, 2, testRAMStart, nil, ecdsaKey))
	r.confirmTrailer(0, Primary)
	r.request(0, false)
	res := r.boot()
	if res.Images[0].Version != "2.0.0+0" || r.ctr.Get(0) != 2 {
		t.Fatalf("test boot: %s, counter %d; want 2.0.0+0 and the counter raised to 2 at once\n%s", res.Images[0].Version, r.ctr.Get(0), notes(res))
	}
	res, err := r.bl.Boot() // not confirmed: v2 erased, v1 below the counter
	if !errors.Is(err, ErrNoBootableImage) || !strings.Contains(notes(res), ErrRollback.Error()) {
		t.Fatalf("revert: %v, want no bootable image (v1 below the counter)\n%s", err, notes(res))
	}
}
