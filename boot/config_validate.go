package boot

import (
	"fmt"
	"sort"

	"rampart/flash"
)

// Validate checks the flash map: geometry, strategy, alignment, that every
// area lies on sector boundaries inside the device without overlapping
// another, and that each image's slots suit the strategy.
func (c *Config) Validate() error {
	size, err := c.Flash.Validate()
	if err != nil {
		return fmt.Errorf("%w: flash: %w", ErrConfig, err)
	}
	switch c.Strategy {
	case OverwriteOnly, SwapMove, SwapOffset:
	case RAMLoad, RAMLoadRevert:
		if c.RAM == nil || c.RAM.Size == 0 || c.RAM.Size > maxRAM {
			return fmt.Errorf("%w: strategy %q needs a ram region of 1..%d bytes", ErrConfig, c.Strategy, maxRAM)
		}
	case DirectXIP, DirectXIPRevert:
		if c.EncryptedImages {
			// bootutil_priv.h: #error "Image encryption (MCUBOOT_ENC_IMAGES)
			// is not supported when MCUBOOT_DIRECT_XIP is selected."
			return fmt.Errorf("%w: encrypted_images with %q: the image runs where it lies, so it cannot be decrypted (MCUboot refuses to build this too; use ram-load)", ErrConfig, c.Strategy)
		}
	case SwapScratch:
		if c.Scratch == nil {
			return fmt.Errorf("%w: strategy %q needs a scratch area", ErrConfig, c.Strategy)
		}
	default:
		return fmt.Errorf("%w: strategy %q is not %q, %q, %q, %q, %q, %q, %q or %q", ErrConfig, c.Strategy, SwapMove, SwapScratch, SwapOffset, OverwriteOnly, DirectXIP, DirectXIPRevert, RAMLoad, RAMLoadRevert)
	}
	switch {
	case c.EncryptedKeyBits != 0 && c.EncryptedKeyBits != 128 && c.EncryptedKeyBits != 256:
		return fmt.Errorf("%w: encrypted_key_bits %d is not 128 or 256", ErrConfig, c.EncryptedKeyBits)
	case c.EncryptedKeyBits != 0 && !c.EncryptedImages:
		return fmt.Errorf("%w: encrypted_key_bits without encrypted_images", ErrConfig)
	}
	ma := c.EffectiveMaxAlign()
	if ma != 8 && ma != 16 && ma != 32 {
		return fmt.Errorf("%w: max_align %d is not 8, 16 or 32", ErrConfig, c.MaxAlign)
	}
	if ma < c.Flash.WriteAlign {
		return fmt.Errorf("%w: max_align %d is below flash.write_align %d", ErrConfig, ma, c.Flash.WriteAlign)
	}
	if c.MaxSectors < 0 || c.MaxSectors > 4096 {
		return fmt.Errorf("%w: max_sectors %d is outside 0..4096", ErrConfig, c.MaxSectors)
	}
	if len(c.Images) == 0 || len(c.Images) > maxImages {
		return fmt.Errorf("%w: images: %d images, want 1..%d", ErrConfig, len(c.Images), maxImages)
	}
	sectors := c.Flash.SectorList()
	type named struct {
		name string
		a    Area
	}
	var all []named
	add := func(name string, a Area) error {
		if a.Size == 0 {
			return fmt.Errorf("%w: %s.size is 0", ErrConfig, name)
		}
		if a.End() > uint64(size) {
			return fmt.Errorf("%w: %s [%#x, %#x) ends beyond the device size %#x", ErrConfig, name, a.Offset, a.End(), size)
		}
		if _, err := sectorsOf(sectors, a); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
		}
		all = append(all, named{name, a})
		return nil
	}
	if err := add("bootloader", c.Bootloader); err != nil {
		return err
	}
	for i, im := range c.Images {
		p := fmt.Sprintf("images[%d]", i)
		if im.ID != i {
			return fmt.Errorf("%w: %s.id is %d, want %d (ids are the image indexes in order)", ErrConfig, p, im.ID, i)
		}
		if err := add(p+".primary", im.Primary); err != nil {
			return err
		}
		if err := add(p+".secondary", im.Secondary); err != nil {
			return err
		}
	}
	if c.Scratch != nil {
		if err := add("scratch", *c.Scratch); err != nil {
			return err
		}
	}
	for i, s := range c.Storage {
		if s.Name == "" {
			return fmt.Errorf("%w: storage[%d].name is empty", ErrConfig, i)
		}
		if err := add(fmt.Sprintf("storage[%d] (%s)", i, s.Name), s.Area); err != nil {
			return err
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].a.Offset < all[j].a.Offset })
	for i := 1; i < len(all); i++ {
		if uint64(all[i].a.Offset) < all[i-1].a.End() {
			return fmt.Errorf("%w: %s overlaps %s", ErrConfig, all[i].name, all[i-1].name)
		}
	}
	l, err := c.layout()
	if err != nil {
		return err
	}
	for i, im := range l.images {
		if err := c.checkSlots(i, im, l); err != nil {
			return err
		}
	}
	return nil
}

// maxRAM bounds the RAM region a ram-load map may ask the bootloader to model.
const maxRAM = 64 << 20

// sectorsOf returns the sectors exactly covering a.
func sectorsOf(all []flash.Sector, a Area) ([]flash.Sector, error) {
	var out []flash.Sector
	start, end := uint64(a.Offset), a.End()
	for _, s := range all {
		so, se := uint64(s.Off), uint64(s.Off)+uint64(s.Size)
		if se <= start || so >= end {
			continue
		}
		if so < start {
			return nil, fmt.Errorf("offset %#x is not on a sector boundary", a.Offset)
		}
		if se > end {
			return nil, fmt.Errorf("end %#x is not on a sector boundary", end)
		}
		out = append(out, s)
	}
	return out, nil
}

// checkSlots verifies that an image's slots suit the strategy.
func (c *Config) checkSlots(i int, im imageLayout, l *layout) error {
	p := fmt.Sprintf("images[%d]", i)
	for _, s := range []*slot{im.primary, im.secondary} {
		if len(s.sectors) > l.maxSectors {
			return fmt.Errorf("%w: %s has %d sectors, more than max_sectors %d", ErrConfig, p, len(s.sectors), l.maxSectors)
		}
	}
	if c.Strategy == SwapScratch {
		return checkScratchSlots(p, im, l)
	}
	if c.Strategy == SwapOffset {
		return checkOffsetSlots(p, im, l)
	}
	if c.Strategy.directXIP() {
		// Either slot runs its image in place: only room beside the trailer.
		if im.primary.size <= uint32(l.infoSize()) || im.secondary.size <= uint32(l.infoSize()) {
			return fmt.Errorf("%w: %s: a slot has no room for an image beside its trailer", ErrConfig, p)
		}
		return nil
	}
	if c.Strategy == OverwriteOnly {
		if err := overwriteCompatible(im.primary.sectors, im.secondary.sectors); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrConfig, p, err)
		}
		if im.primary.imageMax(l, false) <= 0 || im.secondary.imageMax(l, false) <= 0 {
			return fmt.Errorf("%w: %s: a slot has no room for an image beside its trailer", ErrConfig, p)
		}
		return nil
	}
	// swap-move: every sector of both slots the same size; the primary has the
	// same number of sectors as the secondary or one more.
	sz := im.primary.sectors[0].Size
	for _, s := range append(append([]flash.Sector(nil), im.primary.sectors...), im.secondary.sectors...) {
		if s.Size != sz {
			return fmt.Errorf("%w: %s: swap-move needs one sector size in both slots, found %d and %d", ErrConfig, p, sz, s.Size)
		}
	}
	np, ns := len(im.primary.sectors), len(im.secondary.sectors)
	if np != ns && np != ns+1 {
		return fmt.Errorf("%w: %s: swap-move needs the primary slot to have as many sectors as the secondary or one more, have %d and %d", ErrConfig, p, np, ns)
	}
	if im.maxImageSize(l) <= 0 {
		return fmt.Errorf("%w: %s: slots too small for an image beside the trailer and the move sector", ErrConfig, p)
	}
	return nil
}

// overwriteCompatible is MCUboot's rule for overwrite-only slots
// (boot_slots_compatible): the whole secondary slot is copied over the
// primary, so both are the same size, and walking their sectors together
// every run of sectors on one side ends where a run on the other side ends,
// the smaller sectors always on the same side over the whole slot (MCUboot
// resets that side only when a scratch area is in use). Rampart is stricter
// in one case: MCUboot accepts slots of different sizes when the last step
// consumes both sector lists, and then copies past the secondary's end.
func overwriteCompatible(pri, sec []flash.Sector) error {
	var sz0, sz1 uint32
	i, j, smaller := 0, 0, 0
	for i < len(pri) || j < len(sec) {
		switch {
		case sz0 == sz1:
			if i == len(pri) || j == len(sec) {
				return fmt.Errorf("overwrite-only needs both slots the same size, have %d and %d bytes", total(pri), total(sec))
			}
			sz0 += pri[i].Size
			sz1 += sec[j].Size
			i++
			j++
		case sz0 < sz1:
			if i == len(pri) || smaller == 2 {
				return fmt.Errorf("overwrite-only: the slots' sectors do not fit into each other (primary sector %d)", i)
			}
			sz0 += pri[i].Size
			smaller = 1
			i++
		default:
			if j == len(sec) || smaller == 1 {
				return fmt.Errorf("overwrite-only: the slots' sectors do not fit into each other (secondary sector %d)", j)
			}
			sz1 += sec[j].Size
			smaller = 2
			j++
		}
	}
	if sz0 != sz1 {
		return fmt.Errorf("overwrite-only needs both slots the same size, have %d and %d bytes", total(pri), total(sec))
	}
	return nil
}

func total(s []flash.Sector) uint32 {
	var n uint32
	for _, x := range s {
		n += x.Size
	}
	return n
}
