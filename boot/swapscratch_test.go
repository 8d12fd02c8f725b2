package boot

import (
	"errors"
	"strings"
	"testing"

	"rampart/flash"
)

// TestScratchStatusAndWear checks the two ways swap-scratch keeps its
// progress and the wear it reports. With a small image the first chunk
// leaves the trailer alone and every status record goes to the primary
// trailer; with an image reaching into the trailer's sector the first
// chunk's records go through the scratch trailer (MCUboot's use_scratch).
// Either way an upgrade erases the scratch once per chunk and once more
// (the trailer's set-up, or the scratch erased after the trailer chunk).
func TestScratchStatusAndWear(t *testing.T) {
	for _, c := range []struct {
		name       string
		big        bool
		viaScratch bool
	}{{"small", false, false}, {"big", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := layouts[0].config(SwapScratch, 8, 0xff, 1)
			sc := scenario{images: 1, big: c.big}
			im := newImageSetKey(t, 1, scenarioBody(cfg, sc), ecdsaKey)
			base := newRig(t, cfg)
			stage(true)(base, im)
			snap := base.dev.Clone()

			r := newRig(t, cfg)
			r.dev.CopyFrom(snap)
			res, err := r.bl.Boot()
			if err != nil {
				t.Fatal(err)
			}
			l := r.bl.l
			chunks := l.scratchChunks(l.images[0], uint32(len(im.new[0])))
			if want := len(chunks) + 1; res.ScratchErases != want {
				t.Errorf("%d scratch erases for %d chunks, want %d", res.ScratchErases, len(chunks), want)
			}
			if !strings.Contains(strings.Join(res.Images[0].Notes, "\n"), "using scratch") {
				t.Errorf("notes do not say the swap used the scratch: %q", res.Images[0].Notes)
			}
			total := r.dev.Ops()

			inScratch := false
			for cut := 1; cut <= total; cut++ {
				r.dev.CopyFrom(snap)
				*r.ctr = *NewCounters(1, 0)
				r.dev.SetFault(&flash.Fault{CutBefore: cut})
				if _, err := r.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
					t.Fatalf("cut %d: %v", cut, err)
				}
				r.dev.PowerOn()
				st, err := r.bl.io.readScratchStatus(0, l.images[0])
				if err != nil {
					t.Fatal(err)
				}
				if st.found && st.src == l.scratch {
					inScratch = true
				}
				if res, err := r.bl.Boot(); err != nil || res.Images[0].Version != "2.0.0+0" {
					t.Fatalf("cut %d: reboot: %v\n%s", cut, err, notes(res))
				}
			}
			if inScratch != c.viaScratch {
				t.Errorf("status records found in the scratch trailer after some cut: %v, want %v", inScratch, c.viaScratch)
			}
		})
	}
}

// TestScratchConfig checks the flash-map rules of swap-scratch.
func TestScratchConfig(t *testing.T) {
	good := layouts[0].config(SwapScratch, 8, 0xff, 1)
	for _, c := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no scratch", func(c *Config) { c.Scratch = nil }, "needs a scratch area"},
		{"key bits without encryption", func(c *Config) { c.EncryptedKeyBits = 256 }, "encrypted_key_bits without encrypted_images"},
		{"key bits", func(c *Config) { c.EncryptedImages, c.EncryptedKeyBits = true, 192 }, "not 128 or 256"},
		{"empty scratch", func(c *Config) { c.Scratch.Size = 0 }, "scratch.size is 0"},
		{"unequal slots", func(c *Config) { c.Images[0].Secondary.Size -= 4096 }, "the same size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := *good
			cfg.Images = append([]ImageSlots(nil), good.Images...)
			a := *good.Scratch
			cfg.Scratch = &a
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate: %v, want an ErrConfig saying %q", err, c.want)
			}
		})
	}
	// A scratch smaller than a slot sector cannot take a chunk.
	cfg := layouts[2].config(SwapScratch, 8, 0xff, 2) // image 1 on 8 KiB sectors
	a := *cfg.Scratch
	a.Size = 2048
	cfg.Scratch = &a
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "does not fit the") {
		t.Errorf("Validate with a 2 KiB scratch and 8 KiB slot sectors: %v", err)
	}
}
