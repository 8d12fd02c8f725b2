package boot

import (
	"encoding/binary"
	"fmt"

	"rampart/flash"
	"rampart/image"
)

// Swap using offset (MCUboot's swap_offset.c, re-derived). The update is
// written one sector into the secondary slot, so no move phase is needed:
// with n the sectors the larger image covers (last = n-1), an upgrade is
//
//	idx = 0..last:  state 0: secondary[idx] ← primary[idx]     (record 2·idx,   value 1)
//	                state 1: primary[idx]   ← secondary[idx+1] (record 2·idx+1, value 2)
//
// which leaves the old image at the start of the secondary slot, and a
// revert walks back, m = last-idx:
//
//	                state 0: secondary[m+1] ← primary[m]
//	                state 1: primary[m]     ← secondary[m]
//
// then erases the secondary's first sector and trailer. A step copying a
// sector past the end of its source image (index above the image's sector
// count) writes only its record. Each step erases its destination first,
// and its source is overwritten only by a later step, so a step cut by a
// power failure is redone from its erase.

// offsetStatesPerSector is BOOT_STATUS_STATE_COUNT for swap-offset.
const offsetStatesPerSector = 2

// checkOffsetSlots is MCUboot's boot_slots_compatible for swap-offset: one
// sector size in both slots, and the secondary as many sectors as the
// primary or (the intended layout) one more.
func checkOffsetSlots(p string, im imageLayout, l *layout) error {
	sz := im.primary.sectors[0].Size
	for _, sec := range append(append([]flash.Sector(nil), im.primary.sectors...), im.secondary.sectors...) {
		if sec.Size != sz {
			return fmt.Errorf("%w: %s: swap-offset needs one sector size in both slots, found %d and %d", ErrConfig, p, sz, sec.Size)
		}
	}
	np, ns := len(im.primary.sectors), len(im.secondary.sectors)
	if ns != np && ns != np+1 {
		return fmt.Errorf("%w: %s: swap-offset needs the secondary slot to have as many sectors as the primary or one more, have %d and %d", ErrConfig, p, np, ns)
	}
	if im.maxImageSize(l) <= 0 {
		return fmt.Errorf("%w: %s: slots too small for an image beside the trailer and the offset sector", ErrConfig, p)
	}
	return nil
}

// offsetMaxImage is app_max_size for swap-offset: each slot less its
// trailer rounded up to whole sectors, the secondary less its offset sector.
func (im imageLayout) offsetMaxImage(l *layout) int {
	sz := int(im.primary.sectors[0].Size)
	tr := alignUp(l.trailerSize(), sz)
	return min(len(im.primary.sectors)*sz-tr, len(im.secondary.sectors)*sz-tr-sz)
}

// offsetSectorSize is the (single) sector size of a swap-offset image.
func offsetSectorSize(im imageLayout) uint32 { return im.primary.sectors[0].Size }

// hasImageMagic reports whether b starts with MCUboot's image magic.
func hasImageMagic(b []byte) bool {
	return len(b) >= 4 && binary.LittleEndian.Uint32(b) == image.ImageMagic
}

// secondaryImageOff is where boot_read_image_header looks for the
// secondary's image outside a swap: one sector in for an upgrade, at the
// start for a revert (the old image a swap left there), the other place
// when that one has no image magic.
func (io *slotIO) secondaryImageOff(im imageLayout, revert bool) (uint32, error) {
	sz := offsetSectorSize(im)
	first, other := sz, uint32(0)
	if revert {
		first, other = 0, sz
	}
	b, err := io.read(im.secondary, first, 4)
	if err != nil {
		return 0, err
	}
	if hasImageMagic(b) {
		return first, nil
	}
	return other, nil
}

// secondaryData returns image i's secondary slot from where its image
// starts (the whole slot for the other strategies).
func (b *Bootloader) secondaryData(im imageLayout, revert bool) ([]byte, error) {
	data, err := b.io.readSlot(im.secondary)
	if err != nil || b.l.strategy != SwapOffset {
		return data, err
	}
	off, err := b.io.secondaryImageOff(im, revert)
	if err != nil {
		return nil, err
	}
	return data[off:], nil
}

// offsetStatus is the progress of a swap-offset swap found in the primary
// trailer (swap_status_source, swap_read_status_bytes).
type offsetStatus struct {
	found    bool     // the primary trailer is the status source
	done     int      // steps done: one past the last record written
	swapType SwapType // swap_info's type
	size     uint32
}

// readOffsetStatus reads image i's progress: the primary trailer holds it
// when its magic is good, its copy_done unset and the secondary's magic
// not good. The last record written, searched from the end, gives the next
// step.
func (io *slotIO) readOffsetStatus(im imageLayout) (offsetStatus, error) {
	var st offsetStatus
	pri, err := io.trailer(im.primary)
	if err != nil {
		return st, err
	}
	sec, err := io.trailer(im.secondary)
	if err != nil {
		return st, err
	}
	if pri.Magic != MagicGood || pri.CopyDone != FlagUnset || sec.Magic == MagicGood {
		return st, nil
	}
	st.found, st.swapType, st.size = true, pri.SwapType, pri.SwapSize
	wa := io.l.writeAlign
	first := io.l.statusOff(im.primary.size)
	b, err := io.read(im.primary, first, io.l.statusSize())
	if err != nil {
		return st, err
	}
	for k := io.l.maxSectors*offsetStatesPerSector - 1; k >= 0; k-- {
		if b[k*wa] != io.l.erased {
			st.done = k + 1
			break
		}
	}
	return st, nil
}

// offsetLastIdx is find_last_idx: the index of the last sector a swap of
// size bytes covers.
func offsetLastIdx(im imageLayout, size uint32) int {
	sz := offsetSectorSize(im)
	last := 0
	for s := sz; s < size; s += sz {
		last++
	}
	return last
}

// offsetHeaderAt is where boot_read_image_header finds the header of the
// primary's (which 0) or the secondary's (1) image while a swap is under
// way, done steps in: MCUboot's table, including its comparison of the
// 1-based status index with the 0-based last index for an upgrade.
func offsetHeaderAt(im imageLayout, revert bool, which, done, last int) (*slot, uint32) {
	sz := offsetSectorSize(im)
	idx0, state1 := done/offsetStatesPerSector, done%offsetStatesPerSector+1
	idx1 := idx0 + 1
	switch {
	case revert && which == 0:
		if idx0 > last || (idx0 == last && state1 == 2) {
			return im.secondary, sz
		}
		return im.primary, 0
	case revert:
		if idx0 > last {
			return im.primary, 0
		}
		return im.secondary, 0
	case which == 0:
		if (idx1 > 1 || state1 == 2) && idx1 <= last {
			return im.secondary, 0
		}
		return im.primary, 0
	default:
		if idx1 > 1 {
			return im.primary, 0
		}
		return im.secondary, sz
	}
}

// offsetUsedSectors is swap_run's used sector count of the image whose
// header is h: header, protected and unprotected TLVs and body, in sectors.
func offsetUsedSectors(h image.Header, unprot uint16, sz uint32) int {
	n := uint32(h.HdrSize) + uint32(unprot) + uint32(h.ProtectTLVSize) + h.ImgSize
	return int((n + sz - 1) / sz)
}

// offsetSwap is one swap-offset swap to run.
type offsetSwap struct {
	t                SwapType
	size             uint32
	usedPri, usedSec int
	from             int // first step to run
	// crypt decrypts the new image into the primary and encrypts the old
	// one into the secondary (swapoffset_enc.go).
	crypt swapCrypt
}

// writeTLVSizes writes the unprotected TLV sizes field (the secondary's in
// the upper half).
func (io *slotIO) writeTLVSizes(s *slot, pri, sec uint16) error {
	v := uint32(sec)<<16 | uint32(pri)
	return io.writeField(s, io.l.tlvSizesOff(s.size), []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
}

// readTLVSizes reads the unprotected TLV sizes field of s.
func (io *slotIO) readTLVSizes(s *slot) (uint16, uint16, error) {
	b, err := io.read(s, io.l.tlvSizesOff(s.size), 4)
	if err != nil {
		return 0, 0, err
	}
	return binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), nil
}

// startOffsetSwap is swap_run's start for a swap with no record yet:
// the revert fixup (an unset secondary trailer gets copy_done and a
// status, so the revert survives the primary trailer's erase), the primary
// trailer initialised unless it already holds the request (srcPrimary),
// the secondary trailer erased.
func (io *slotIO) startOffsetSwap(i int, im imageLayout, t SwapType, size uint32, tlv [2]uint16, srcPrimary bool, sc swapCrypt) error {
	if t == SwapRevert {
		tr, err := io.trailer(im.secondary)
		if err != nil {
			return err
		}
		if tr.Magic == MagicUnset {
			if err := io.eraseTrailer(im.secondary); err != nil {
				return err
			}
			if err := io.writeFlag(im.secondary, io.l.copyDoneOff(im.secondary.size)); err != nil {
				return err
			}
			if err := io.statusInit(i, im, im.secondary, t, size, &tlv, sc); err != nil {
				return err
			}
		}
	}
	if !srcPrimary {
		if err := io.eraseTrailer(im.primary); err != nil {
			return err
		}
		if err := io.statusInit(i, im, im.primary, t, size, &tlv, sc); err != nil {
			return err
		}
	}
	return io.eraseTrailer(im.secondary)
}

// runOffsetSwap performs steps sw.from.. of a swap, then for a revert
// erases the secondary's first sector and its trailer.
func (io *slotIO) runOffsetSwap(im imageLayout, sw offsetSwap) error {
	pri, sec := im.primary, im.secondary
	last := offsetLastIdx(im, sw.size)
	if last+1 >= len(sec.sectors) || last >= len(pri.sectors) || 2*(last+1) > io.l.maxSectors*offsetStatesPerSector {
		return fmt.Errorf("boot: swap of %d bytes does not fit the slots", sw.size)
	}
	revert := sw.t == SwapRevert
	for step := sw.from; step < 2*(last+1); step++ {
		idx, state := step/2, step%2
		m := idx
		if revert {
			m = last - idx
		}
		var err error
		// Either image's bytes sit at the primary sector's offset from
		// the image's start (boot_copy_region's sector_off).
		at := pri.sectors[m].Off - pri.off
		switch {
		case state == 0 && m > sw.usedPri, state == 1 && m > sw.usedSec:
			// Past the end of the source image: nothing to copy.
		case state == 0 && revert:
			err = io.moveSector(pri.sectors[m], sec.sectors[m+1], sw.crypt.enc, at)
		case state == 0:
			err = io.moveSector(pri.sectors[m], sec.sectors[m], sw.crypt.enc, at)
		case revert:
			err = io.moveSector(sec.sectors[m], pri.sectors[m], sw.crypt.dec, at)
		default:
			err = io.moveSector(sec.sectors[m+1], pri.sectors[m], sw.crypt.dec, at)
		}
		if err != nil {
			return err
		}
		off := io.l.statusOff(pri.size) + uint32(step*io.l.writeAlign)
		if err := io.writeField(pri, off, []byte{byte(state + 1)}); err != nil {
			return err
		}
	}
	if !revert {
		return nil
	}
	if err := io.eraseSector(sec, 0); err != nil {
		return err
	}
	return io.eraseTrailer(sec)
}

// headerAt parses the image header at offset off of s.
func (io *slotIO) headerAt(s *slot, off uint32) (image.Header, bool, error) {
	b, err := io.read(s, off, image.HeaderSize)
	if err != nil {
		return image.Header{}, false, err
	}
	if !hasImageMagic(b) {
		return image.Header{}, false, nil
	}
	h, err := image.ParseHeader(b)
	return h, err == nil, nil
}

// resumeOffset handles image i's swap recorded in the primary trailer:
// with records, it is finished from the next step (MCUboot's
// boot_complete_partial_swap, the headers looked up where the steps left
// them); without any, a recorded swap type is started again by decide
// (its candidate validated again, the primary trailer kept).
func (b *Bootloader) resumeOffset(i int, s *imageState, r *ImageReport) error {
	im := b.l.images[i]
	st, err := b.io.readOffsetStatus(im)
	if err != nil || !st.found {
		return err
	}
	if st.done == 0 {
		switch st.swapType {
		case SwapTest, SwapPerm, SwapRevert:
			// With one image MCUboot keeps the status it read, whose
			// source is the primary trailer, and does not initialise it
			// again; with more it resets each image's status before its
			// swap (context_boot_go) and does.
			s.restart, s.srcPrimary = st.swapType, len(b.l.images) == 1
		}
		return nil
	}
	if st.size == 0 || int(st.size) > int(im.primary.size) {
		r.note("a %s swap of %d bytes was recorded, more than the slots hold: ignored", st.swapType, st.size)
		return nil
	}
	sw := offsetSwap{t: st.swapType, size: st.size, from: st.done}
	last := offsetLastIdx(im, st.size)
	tlvPri, tlvSec, err := b.io.readTLVSizes(im.primary)
	if err != nil {
		return err
	}
	sz := offsetSectorSize(im)
	var hdrs [2]*image.Header
	for which, dst := range []*int{&sw.usedPri, &sw.usedSec} {
		sl, off := offsetHeaderAt(im, st.swapType == SwapRevert, which, st.done, last)
		h, ok, err := b.io.headerAt(sl, off)
		if err != nil {
			return err
		}
		if !ok {
			r.note("interrupted swap: image header %d not found where the swap left it: not resumed", which)
			return nil
		}
		*dst = offsetUsedSectors(h, []uint16{tlvPri, tlvSec}[which], sz)
		hdrs[which] = &h
	}
	if sw.crypt, err = b.io.resumedSwapCrypt(im.primary, hdrs); err != nil {
		return err
	}
	if st.done < offsetStatesPerSector {
		// swap_run redoes its start while the status index is still the
		// first sector's: the revert fixup (its TLV sizes not known on a
		// resume: zero) and the secondary trailer's erase.
		if err := b.io.startOffsetSwap(i, im, sw.t, sw.size, [2]uint16{}, true, sw.crypt); err != nil {
			return err
		}
	}
	if err := b.io.runOffsetSwap(im, sw); err != nil {
		return err
	}
	s.action, s.resumed, s.swapSize = st.swapType, true, st.size
	r.Action, r.Resumed = s.action, true
	r.note("resumed an interrupted %s swap of %d bytes using offset at step %d of %d", s.action, st.size, st.done, 2*(last+1))
	return nil
}

// performOffset starts image i's new swap (boot_swap_image with a reset
// status): the swap size is the larger image's, each image's unprotected
// TLV size goes into the trailer.
func (b *Bootloader) performOffset(i int, s *imageState, r *ImageReport) error {
	im := b.l.images[i]
	revert := s.action == SwapRevert
	sz := offsetSectorSize(im)
	secOff, err := b.io.secondaryImageOff(im, revert)
	if err != nil {
		return err
	}
	var sw offsetSwap
	var tlv [2]uint16
	var hdrs [2]*image.Header
	var keys [2][]byte
	for k, loc := range []struct {
		s   *slot
		off uint32
	}{{im.primary, 0}, {im.secondary, secOff}} {
		data, err := b.io.readSlot(loc.s)
		if err != nil {
			return err
		}
		if !hasImageMagic(data[loc.off:]) {
			continue
		}
		img, err := image.Parse(data[loc.off:])
		if err != nil {
			continue
		}
		tlv[k] = img.Unprotected.TLVTot
		sw.size = max(sw.size, uint32(img.Size()))
		hdrs[k] = &img.Header
		if b.l.encrypted {
			keys[k] = b.l.bodyKey(data[loc.off:], b.decryptKey)
		}
	}
	if sw.size == 0 || int(sw.size) > im.maxImageSize(b.l) {
		r.note("swap of %d bytes does not fit the slots: not done", sw.size)
		s.action = SwapNone
		return nil
	}
	if s.srcPrimary {
		// The trailer keeps the sizes it was started with.
		p, q, err := b.io.readTLVSizes(im.primary)
		if err != nil {
			return err
		}
		tlv = [2]uint16{p, q}
	}
	// swap_run counts each image's sectors with the sizes in the trailer.
	for k, dst := range []*int{&sw.usedPri, &sw.usedSec} {
		if hdrs[k] != nil {
			*dst = offsetUsedSectors(*hdrs[k], tlv[k], sz)
		}
	}
	sw.t = s.action
	if sw.crypt, err = newSwapCrypt(keys, hdrs[0], hdrs[1]); err != nil {
		return err
	}
	s.swapSize = sw.size
	r.Action = s.action
	r.note("starting a %s swap of %d bytes using offset", s.action, sw.size)
	if err := b.io.startOffsetSwap(i, im, sw.t, sw.size, tlv, s.srcPrimary, sw.crypt); err != nil {
		return err
	}
	return b.io.runOffsetSwap(im, sw)
}
