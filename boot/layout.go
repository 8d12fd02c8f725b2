package boot

import (
	"fmt"

	"rampart/flash"
)

// slot is one image slot on the device, with its sectors (absolute offsets).
type slot struct {
	off, size uint32
	sectors   []flash.Sector
}

type imageLayout struct {
	primary, secondary *slot
}

// layout is the flash map resolved against the device's sectors, with the
// trailer geometry both the trailer codec and the swap engine use.
type layout struct {
	strategy   Strategy
	maxAlign   int
	writeAlign int
	erased     byte
	maxSectors int
	encrypted  bool // MCUBOOT_ENC_IMAGES: two key fields in every trailer
	aes256     bool // MCUBOOT_AES_256: 32-byte body keys
	images     []imageLayout
	// scratch is the scratch area (nil when the map has none); only
	// swap-scratch uses it.
	scratch *slot
}

// layout resolves c (whose areas are already known to lie on sectors).
func (c *Config) layout() (*layout, error) {
	all := c.Flash.SectorList()
	l := &layout{
		strategy:   c.Strategy,
		maxAlign:   c.EffectiveMaxAlign(),
		writeAlign: c.Flash.WriteAlign,
		erased:     c.Flash.ErasedValue,
		maxSectors: c.MaxSectors,
		encrypted:  c.EncryptedImages,
		aes256:     c.EncryptedImages && c.EncryptedKeyBits == 256,
	}
	mk := func(a Area) (*slot, error) {
		s, err := sectorsOf(all, a)
		if err != nil {
			return nil, err
		}
		return &slot{off: uint32(a.Offset), size: uint32(a.Size), sectors: s}, nil
	}
	for i, im := range c.Images {
		p, err := mk(im.Primary)
		if err != nil {
			return nil, fmt.Errorf("%w: images[%d].primary: %v", ErrConfig, i, err)
		}
		s, err := mk(im.Secondary)
		if err != nil {
			return nil, fmt.Errorf("%w: images[%d].secondary: %v", ErrConfig, i, err)
		}
		l.images = append(l.images, imageLayout{p, s})
	}
	if c.Scratch != nil {
		s, err := mk(*c.Scratch)
		if err != nil {
			return nil, fmt.Errorf("%w: scratch: %v", ErrConfig, err)
		}
		l.scratch = s
	}
	if c.MaxSectors == 0 {
		// Default: the sector count of the largest slot.
		for _, im := range l.images {
			l.maxSectors = max(l.maxSectors, len(im.primary.sectors), len(im.secondary.sectors))
		}
	}
	return l, nil
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// magicAreaSize is BOOT_MAGIC_ALIGN_SIZE: the 16-byte magic padded to max-align.
func (l *layout) magicAreaSize() int { return alignUp(magicSize, l.maxAlign) }

// encKeyFieldSize is BOOT_ENC_KEY_ALIGN_SIZE: one body key padded to
// max-align; 0 without encrypted images.
func (l *layout) encKeyFieldSize() int {
	if !l.encrypted {
		return 0
	}
	return alignUp(l.encKeySize(), l.maxAlign)
}

// encKeySize is BOOT_ENC_KEY_SIZE: 16 bytes for AES-128, 32 for AES-256.
func (l *layout) encKeySize() int {
	if l.aes256 {
		return 32
	}
	return 16
}

// infoSize is the trailer without the swap status: the two key fields with
// encrypted images, swap_size, [swap-offset: the two images' unprotected
// TLV sizes], swap_info, copy_done, image_ok (one max-align unit each) and
// the magic.
func (l *layout) infoSize() int {
	n := 2*l.encKeyFieldSize() + 4*l.maxAlign + l.magicAreaSize()
	if l.strategy == SwapOffset {
		n += l.maxAlign
	}
	return n
}

// statusPerSector is the number of status records per sector: swap-offset
// has no move phase (BOOT_STATUS_STATE_COUNT).
func (l *layout) statusPerSector() int {
	if l.strategy == SwapOffset {
		return offsetStatesPerSector
	}
	return statusRecordsPerSector
}

// statusSize is the swap-status area: three records (one move, two swap
// states) of write-align bytes per sector, for max_sectors sectors.
func (l *layout) statusSize() int {
	if l.strategy == OverwriteOnly || l.strategy.directXIP() {
		return 0
	}
	return l.maxSectors * l.statusPerSector() * l.writeAlign
}

// trailerSize is the whole trailer.
func (l *layout) trailerSize() int { return l.statusSize() + l.infoSize() }

// trailerStart is the slot-relative offset of the first trailer byte.
func (l *layout) trailerStart(s *slot) uint32 { return s.size - uint32(l.trailerSize()) }

// trailerSectorIndex is the index of the first sector holding trailer bytes.
func (l *layout) trailerSectorIndex(s *slot) int {
	start := s.off + l.trailerStart(s)
	for i, sec := range s.sectors {
		if sec.Off+sec.Size > start {
			return i
		}
	}
	return len(s.sectors)
}

// imageMax is the largest image a slot holds. With whole true (swap-move) the
// trailer is given whole sectors; otherwise only its bytes.
func (s *slot) imageMax(l *layout, whole bool) int {
	if !whole {
		return int(s.size) - l.trailerSize()
	}
	return int(s.sectors[l.trailerSectorIndex(s)].Off - s.off)
}

// maxImageSize is the largest image this pair of slots can upgrade: for
// swap-move the primary keeps one spare sector for the move phase.
func (im imageLayout) maxImageSize(l *layout) int {
	if l.strategy == SwapScratch {
		return im.scratchMaxImage(l)
	}
	if l.strategy == SwapOffset {
		return im.offsetMaxImage(l)
	}
	if l.strategy.directXIP() {
		// bootutil_max_image_size: a slot up to its swap_info field.
		return int(min(l.swapInfoOff(im.primary.size), l.swapInfoOff(im.secondary.size)))
	}
	if l.strategy == OverwriteOnly {
		return min(im.primary.imageMax(l, false), im.secondary.imageMax(l, false))
	}
	pri := im.primary.imageMax(l, true) - int(im.primary.sectors[0].Size)
	return min(pri, im.secondary.imageMax(l, true))
}

// primaryMax is the largest image the primary slot of im may hold when it
// boots (MCUboot's bootutil_max_image_size).
func (l *layout) primaryMax(im imageLayout) int {
	if l.strategy == SwapScratch || l.strategy == SwapOffset {
		return im.maxImageSize(l)
	}
	return im.primary.imageMax(l, l.strategy == SwapMove)
}
