package boot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"rampart/flash"
	"rampart/image"
)

// Direct-XIP (MCUboot's MCUBOOT_DIRECT_XIP, loader.c, re-derived): nothing
// is copied; each image runs from whichever of its two slots holds the
// highest version that validates. With revert (MCUBOOT_DIRECT_XIP_REVERT)
// a slot is chosen only with a good trailer magic; choosing it writes its
// copy_done, and a slot found chosen before (copy_done set) and never
// confirmed (image_ok unset) is erased, so the other slot boots again. An
// invalid image is erased too. The security counter follows the running
// image, with revert only once it is confirmed.

// xipRevert reports whether the strategy is direct-XIP with revert.
func (l *layout) xipRevert() bool {
	return l.strategy == DirectXIPRevert || l.strategy == RAMLoadRevert
}

// xipHeader is the header of the image in s when boot_check_header_valid
// accepts it: the image magic, and header, body and protected TLVs smaller
// than the slot.
func (io *slotIO) xipHeader(s *slot) (image.Header, bool, error) {
	b, err := io.read(s, 0, image.HeaderSize)
	if err != nil {
		return image.Header{}, false, err
	}
	if binary.LittleEndian.Uint32(b) != image.ImageMagic {
		return image.Header{}, false, nil
	}
	h, _ := image.ParseHeader(b)
	h.Magic = image.ImageMagic
	h.HdrSize = binary.LittleEndian.Uint16(b[8:])
	size := uint64(h.HdrSize) + uint64(h.ImgSize) + uint64(h.ProtectTLVSize)
	return h, size < uint64(s.size), nil
}

// xipChoice is the slot chosen for one image and what it holds.
type xipChoice struct {
	slot    *slot
	name    SlotName
	v       *validImage
	imageOK bool // the trailer's image_ok when chosen (revert only)
	index   int  // 0 primary, 1 secondary
}

// bootDirectXIP chooses and validates every image's slot (erasing what
// MCUboot erases), checks the images' dependencies, then raises the
// counters and measures the images.
func (b *Bootloader) bootDirectXIP(res *Result) error {
	n := len(b.l.images)
	choices := make([]xipChoice, n)
	loaded := make([][2]uint32, n)
	refused := make([][2]bool, n) // slots out of the running, as MCUboot's slot_available
	clear(b.ram)
	for {
		for i := range b.l.images {
			if choices[i].v != nil {
				continue // still chosen: MCUboot loads only images without an active slot
			}
			c, err := b.chooseXIP(i, &res.Images[i], loaded, &refused[i])
			if errors.Is(err, flash.ErrPowerCut) {
				return err
			}
			if err != nil {
				// MCUboot's boot_load_and_validate_images stops at the
				// first image without a slot: the images after it are
				// not looked at (nothing erased, loaded or marked).
				return fmt.Errorf("%w: image %d: %w", ErrNoBootableImage, i, err)
			}
			choices[i] = c
		}
		i, why := xipUnmetDependency(choices)
		if i < 0 {
			break
		}
		b.dropXIPChoice(i, why, &choices[i], &res.Images[i], loaded, &refused[i])
	}
	for i, c := range choices {
		r := &res.Images[i]
		// MCUboot's boot_update_hw_rollback_protection waits for
		// image_ok with direct-XIP revert only; ram-load-revert raises
		// the counter at the first boot (docs/boot.md §5b).
		if b.l.strategy != DirectXIPRevert || c.imageOK {
			if err := b.raise(i, c.v.secCnt, r); err != nil {
				return err
			}
		}
		r.Booted, r.Slot = true, c.name
		r.Version = c.v.version().String()
		r.SecurityCounter = c.v.secCnt
		r.DeviceCounter = b.counters.Get(i)
		rec := newBootRecord(c.v, b.cfg.Images[i].Name)
		r.Record = &rec
		b.active[i] = c.name
		r.note("booting %s %s from the %s slot", r.Name, r.Version, c.name)
	}
	return b.applyKeyRotationXIP(choices, res)
}

// xipUnmetDependency is boot_verify_dependencies for direct-XIP and
// ram-load: the first image (by index) whose chosen image has a DEPENDENCY
// TLV that the other images' chosen versions do not meet, or one that is
// not 12 bytes long, with why, or -1. As MCUboot, a dependency on an image
// index the device does not have is never met, the build number is not
// compared, and one image's dependencies are not looked at.
func xipUnmetDependency(choices []xipChoice) (int, error) {
	if len(choices) < 2 {
		return -1, nil // MCUboot checks only with MCUBOOT_IMAGE_NUMBER > 1
	}
	for i, c := range choices {
		if c.v.depsErr != nil {
			return i, c.v.depsErr
		}
		for _, d := range c.v.deps {
			if int(d.ImageID) >= len(choices) || choices[d.ImageID].v.version().Compare(d.Version, false) < 0 {
				return i, fmt.Errorf("%w: dependency %s not satisfied", ErrDependency, d)
			}
		}
	}
	return -1, nil
}

// dropXIPChoice takes image i's chosen slot out of the running after its
// dependency check failed (why), as MCUboot does: the image is cleared
// from RAM (ram-load) and the slot marked unavailable, but not erased; the
// next round chooses among the image's other slots.
func (b *Bootloader) dropXIPChoice(i int, why error, c *xipChoice, r *ImageReport, loaded [][2]uint32, refused *[2]bool) {
	r.note("%s slot: %v: trying the other slot", c.name, why)
	if b.l.strategy.ramLoad() && loaded[i][1] != 0 {
		b.clearRAM(loaded[i][0], loaded[i][1])
		loaded[i] = [2]uint32{}
		r.LoadAddr, r.LoadSize = 0, 0
	}
	refused[c.index] = true
	*c = xipChoice{}
}

// chooseXIP is boot_load_and_validate_images for image i; with ram-load
// it loads the chosen image into RAM and records where in loaded[i].
func (b *Bootloader) chooseXIP(i int, r *ImageReport, loaded [][2]uint32, refused *[2]bool) (xipChoice, error) {
	im := b.l.images[i]
	slots := []*slot{im.primary, im.secondary}
	names := []SlotName{Primary, Secondary}
	var hdrs [2]image.Header
	var avail [2]bool
	for k, s := range slots {
		h, ok, err := b.io.xipHeader(s)
		if err != nil {
			return xipChoice{}, err
		}
		hdrs[k], avail[k] = h, ok && !refused[k]
	}
	for {
		k := -1
		for j := range slots {
			if avail[j] && (k < 0 || hdrs[j].Ver.Compare(hdrs[k].Ver, false) > 0) {
				k = j
			}
		}
		if k < 0 {
			r.note("no slot holds a bootable image")
			return xipChoice{}, errors.New("no slot holds a bootable image")
		}
		s := slots[k]
		if hdrs[k].Flags&image.FlagROMFixed != 0 && hdrs[k].LoadAddr != s.off {
			r.note("%s slot: image built for %#x, not this slot: skipped", names[k], hdrs[k].LoadAddr)
			avail[k], refused[k] = false, true
			continue
		}
		c := xipChoice{slot: s, name: names[k], index: k}
		if b.l.xipRevert() {
			ok, imageOK, err := b.selectOrErase(s, names[k], r)
			if err != nil {
				return xipChoice{}, err
			}
			if !ok {
				avail[k], refused[k] = false, true
				continue
			}
			c.imageOK = imageOK
		}
		data, err := b.io.readSlot(s)
		if err != nil {
			return xipChoice{}, err
		}
		if b.l.strategy.ramLoad() {
			ram, addr, size, err := b.loadToRAM(i, s, hdrs[k], loaded)
			if errors.Is(err, flash.ErrPowerCut) {
				return xipChoice{}, err
			}
			if err != nil {
				r.note("%s slot: not loaded into RAM (%v): erasing it", names[k], err)
				if err := b.io.eraseRegion(s, 0, s.size, false); err != nil {
					return xipChoice{}, err
				}
				avail[k], refused[k] = false, true
				continue
			}
			data = ram
			loaded[i] = [2]uint32{addr, size}
			r.LoadAddr, r.LoadSize = addr, size
		}
		v, err := b.validate(data, i, int(b.l.swapInfoOff(s.size)), false)
		if err != nil && b.l.strategy.ramLoad() {
			b.clearRAM(loaded[i][0], loaded[i][1])
			loaded[i] = [2]uint32{}
			r.LoadAddr, r.LoadSize = 0, 0
		}
		if err != nil {
			r.note("%s slot: %v: erasing it", names[k], err)
			if err := b.io.eraseRegion(s, 0, s.size, false); err != nil {
				return xipChoice{}, err
			}
			avail[k], refused[k] = false, true
			continue
		}
		c.v = v
		return c, nil
	}
}

// selectOrErase is boot_select_or_erase: a slot without a good trailer
// magic, or chosen before (copy_done) and not confirmed, is erased;
// otherwise its copy_done is written if unset. It returns whether the slot
// may boot and its image_ok.
func (b *Bootloader) selectOrErase(s *slot, name SlotName, r *ImageReport) (bool, bool, error) {
	t, err := b.io.trailer(s)
	if err != nil {
		return false, false, err
	}
	if t.Magic != MagicGood || (t.CopyDone == FlagSet && t.ImageOK != FlagSet) {
		r.note("%s slot: trailer magic %s, copy_done %s, image_ok %s: chosen before and not confirmed, or no trailer: erasing it", name, t.Magic, t.CopyDone, t.ImageOK)
		return false, false, b.io.eraseRegion(s, 0, s.size, false)
	}
	if t.CopyDone != FlagSet {
		err := b.io.writeFlag(s, b.l.copyDoneOff(s.size))
		if errors.Is(err, flash.ErrPowerCut) {
			return false, false, err
		}
		if err != nil {
			// As MCUboot: a copy_done that cannot be written is only a warning.
			r.note("%s slot: copy_done not written: %v", name, err)
		}
	}
	return true, t.ImageOK == FlagSet, nil
}

// RAM-load (MCUBOOT_RAM_LOAD, ram_load.c): the slot is chosen as with
// direct-XIP; the image, which must carry the RAM_LOAD flag, is copied
// whole (header, body, TLVs) to its load address inside the map's RAM
// region, without overlapping another image's, and validated there. An
// image that cannot be loaded or does not validate is cleared from RAM and
// its slot erased.

func ramFor(cfg *Config) []byte {
	if !cfg.Strategy.ramLoad() || cfg.RAM == nil {
		return nil
	}
	return make([]byte, cfg.RAM.Size)
}

// RAM returns the RAM region ram-load copies images into (nil otherwise).
func (b *Bootloader) RAM() []byte { return b.ram }

// loadToRAM copies the image in s to its load address (boot_load_image_to_sram)
// and returns the copy, or why it cannot be loaded.
func (b *Bootloader) loadToRAM(i int, s *slot, h image.Header, loaded [][2]uint32) ([]byte, uint32, uint32, error) {
	if h.Flags&image.FlagRAMLoad == 0 {
		return nil, 0, 0, errors.New("image without the RAM_LOAD flag")
	}
	data, err := b.io.readSlot(s)
	if err != nil {
		return nil, 0, 0, err
	}
	img, err := image.Parse(data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("image size unknown: %w", err)
	}
	start, size := uint64(b.cfg.RAM.Offset), uint64(img.Size())
	dst := uint64(h.LoadAddr)
	if dst < start || dst+size > start+uint64(len(b.ram)) {
		return nil, 0, 0, fmt.Errorf("load address %#x (%d bytes) outside RAM [%#x, %#x)", dst, size, start, start+uint64(len(b.ram)))
	}
	for j, o := range loaded {
		// do_regions_overlap(this, other), as MCUboot writes it.
		sa, ea, sb, eb := dst, dst+size, uint64(o[0]), uint64(o[0])+uint64(o[1])
		if j != i && o[1] != 0 && sb <= ea && (sb >= sa || eb > sa) {
			return nil, 0, 0, fmt.Errorf("load region overlaps image %d's", j)
		}
	}
	ram := b.ram[dst-start : dst+size-start]
	copy(ram, data)
	if err := b.decryptInRAM(img, ram); err != nil {
		return nil, 0, 0, err
	}
	return ram, uint32(dst), uint32(size), nil
}

// clearRAM is boot_remove_image_from_sram.
func (b *Bootloader) clearRAM(addr, size uint32) {
	off := addr - uint32(b.cfg.RAM.Offset)
	clear(b.ram[off : off+size])
}
