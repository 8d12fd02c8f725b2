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
func (l *layout) xipRevert() bool { return l.strategy == DirectXIPRevert }

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
}

// bootDirectXIP chooses and validates every image's slot (erasing what
// MCUboot erases), then raises the counters and measures the images.
func (b *Bootloader) bootDirectXIP(res *Result) error {
	choices := make([]xipChoice, len(b.l.images))
	var bad []error
	for i := range b.l.images {
		c, err := b.chooseXIP(i, &res.Images[i])
		if errors.Is(err, flash.ErrPowerCut) {
			return err
		}
		if err != nil {
			bad = append(bad, fmt.Errorf("image %d: %w", i, err))
			continue
		}
		choices[i] = c
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %w", ErrNoBootableImage, errors.Join(bad...))
	}
	for i, c := range choices {
		r := &res.Images[i]
		if !b.l.xipRevert() || c.imageOK {
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
	return nil
}

// chooseXIP is boot_load_and_validate_images for image i.
func (b *Bootloader) chooseXIP(i int, r *ImageReport) (xipChoice, error) {
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
		hdrs[k], avail[k] = h, ok
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
			avail[k] = false
			continue
		}
		c := xipChoice{slot: s, name: names[k]}
		if b.l.xipRevert() {
			ok, imageOK, err := b.selectOrErase(s, names[k], r)
			if err != nil {
				return xipChoice{}, err
			}
			if !ok {
				avail[k] = false
				continue
			}
			c.imageOK = imageOK
		}
		data, err := b.io.readSlot(s)
		if err != nil {
			return xipChoice{}, err
		}
		v, err := b.validate(data, i, int(b.l.swapInfoOff(s.size)), false)
		if err != nil {
			r.note("%s slot: %v: erasing it", names[k], err)
			if err := b.io.eraseRegion(s, 0, s.size, false); err != nil {
				return xipChoice{}, err
			}
			avail[k] = false
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
