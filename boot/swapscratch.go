package boot

import (
	"fmt"

	"rampart/flash"
)

// Swap using scratch (MCUboot's swap_scratch.c, re-derived). The slots are
// cut into chunks from their end: each chunk is the run of primary sectors,
// taken from the last one down, that fits into the scratch area. Chunk idx
// (0 = the last one, holding the trailer) is swapped in three states, each
// ending with one status record (MCUboot's state number, 1..3):
//
//	0: erase the scratch; [idx 0: write a trailer in the scratch, and unless
//	   the chunk holds the trailer, move it to the primary and erase the
//	   scratch again]; scratch ← secondary chunk
//	1: [idx 0: erase the secondary trailer]; secondary chunk ← primary chunk
//	2: primary chunk ← scratch; [trailer chunk: the status records and the
//	   trailer fields move from the scratch to the primary, and the scratch
//	   is erased from its last sector down]
//
// While the trailer chunk is being swapped (use_scratch) its first two
// records live in the scratch trailer, which has room for three; otherwise
// all records live in the primary trailer. Every chunk erases the scratch
// at least once, so an upgrade of n chunks erases each scratch sector n
// times, once more for the trailer init, and a revert as many again: the
// scratch wears out first (Result.ScratchErases counts it).

// scratchChunk is one unit of a scratch swap.
type scratchChunk struct {
	first int    // index of the chunk's first primary sector
	off   uint32 // slot offset of the chunk (the same in both slots)
	size  uint32
}

// scratchTrailerSize is boot_scratch_trailer_sz: room for the three status
// records of one chunk and the trailer info.
func (l *layout) scratchTrailerSize() int {
	return statusRecordsPerSector*l.writeAlign + l.infoSize()
}

// scratchStatusOff is the scratch area's offset of its first status record.
func (l *layout) scratchStatusOff() uint32 {
	return l.scratch.size - uint32(l.scratchTrailerSize())
}

// checkScratchSlots is MCUboot's boot_slots_compatible for swap-scratch:
// walking both slots' sectors together, every run that ends on a common
// boundary fits the scratch area and its smaller sectors lie on one side,
// and both slots end together. The scratch must hold its trailer, and the
// slots an image beside theirs.
func checkScratchSlots(p string, im imageLayout, l *layout) error {
	if _, err := scratchRuns(im, l.scratch.size); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, p, err)
	}
	if l.scratchTrailerSize() > int(l.scratch.size) {
		return fmt.Errorf("%w: scratch: %d bytes cannot hold its %d-byte trailer", ErrConfig, l.scratch.size, l.scratchTrailerSize())
	}
	if im.maxImageSize(l) <= 0 {
		return fmt.Errorf("%w: %s: slots too small for an image beside the trailer", ErrConfig, p)
	}
	return nil
}

// scratchRuns returns the sizes of the runs of sectors ending on a common
// boundary of both slots (see checkScratchSlots).
func scratchRuns(im imageLayout, scratch uint32) ([]uint32, error) {
	pri, sec := im.primary.sectors, im.secondary.sectors
	var runs []uint32
	var sz0, sz1 uint32
	i, j, smaller := 0, 0, 0
	for i < len(pri) || j < len(sec) {
		switch {
		case sz0 == sz1:
			if i == len(pri) || j == len(sec) {
				return nil, fmt.Errorf("swap-scratch needs both slots the same size, have %d and %d bytes", total(pri), total(sec))
			}
			sz0 += pri[i].Size
			sz1 += sec[j].Size
			i++
			j++
		case sz0 < sz1:
			if i == len(pri) || smaller == 2 {
				return nil, fmt.Errorf("swap-scratch: the slots' sectors do not fit into each other (primary sector %d)", i)
			}
			sz0 += pri[i].Size
			smaller = 1
			i++
		default:
			if j == len(sec) || smaller == 1 {
				return nil, fmt.Errorf("swap-scratch: the slots' sectors do not fit into each other (secondary sector %d)", j)
			}
			sz1 += sec[j].Size
			smaller = 2
			j++
		}
		if sz0 == sz1 {
			if sz0 > scratch {
				return nil, fmt.Errorf("swap-scratch: a run of %d bytes of sectors does not fit the %d-byte scratch area", sz0, scratch)
			}
			runs = append(runs, sz0)
			sz0, sz1, smaller = 0, 0, 0
		}
	}
	if sz0 != sz1 {
		return nil, fmt.Errorf("swap-scratch needs both slots the same size, have %d and %d bytes", total(pri), total(sec))
	}
	return runs, nil
}

// scratchMaxImage is app_max_size for swap-scratch: the slot up to its
// trailer, less the padding that keeps the scratch trailer clear of image
// bytes when the first trailer sector passes through the scratch.
func (im imageLayout) scratchMaxImage(l *layout) int {
	tsz := l.trailerSize()
	trailerOff := int(im.primary.size) - tsz
	if trailerOff <= 0 {
		return 0
	}
	end := 0
	for _, s := range []*slot{im.primary, im.secondary} {
		k := l.trailerSectorIndex(s)
		if k >= len(s.sectors) {
			return 0
		}
		end = max(end, int(s.sectors[k].Off-s.off+s.sectors[k].Size))
	}
	pad := max(0, l.scratchTrailerSize()-(end-trailerOff))
	return trailerOff - pad
}

// scratchChunks lists the chunks of a swap of size bytes, chunk 0 (the
// slots' end) first (find_last_sector_idx and boot_copy_sz).
func (l *layout) scratchChunks(im imageLayout, size uint32) []scratchChunk {
	pri, sec := im.primary.sectors, im.secondary.sectors
	var ps, ss uint32
	ip, is := 0, 0
	for ps < size || ss < size || ps != ss {
		if (ps < size || ps < ss) && ip < len(pri) {
			ps += pri[ip].Size
			ip++
		}
		if (ss < size || ss < ps) && is < len(sec) {
			ss += sec[is].Size
			is++
		}
		if ip == len(pri) && is == len(sec) {
			break
		}
	}
	var out []scratchChunk
	for last := ip - 1; last >= 0; {
		var sz uint32
		k := last
		for ; k >= 0 && sz+pri[k].Size <= l.scratch.size; k-- {
			sz += pri[k].Size
		}
		out = append(out, scratchChunk{first: k + 1, off: pri[k+1].Off - im.primary.off, size: sz})
		last = k
	}
	return out
}

// scratchStatus is where a scratch swap's progress was found
// (swap_status_source and swap_read_status_bytes).
type scratchStatus struct {
	src        *slot // the area holding the records; nil: none
	found      bool  // some record was written: the swap is resumed
	idx, state int   // the first step not done: chunk idx, its state
	swapType   SwapType
}

// readScratchStatus finds image i's swap progress as MCUboot does: the
// scratch trailer when its magic is good (and names image i), else the
// primary's unless it records a finished swap.
func (io *slotIO) readScratchStatus(i int, im imageLayout) (scratchStatus, error) {
	var st scratchStatus
	pri, err := io.trailer(im.primary)
	if err != nil {
		return st, err
	}
	scr, err := io.trailer(io.l.scratch)
	if err != nil {
		return st, err
	}
	entries := io.l.maxSectors * statusRecordsPerSector
	switch {
	case pri.Magic == MagicGood && scr.Magic != MagicGood && pri.CopyDone == FlagSet:
		return st, nil
	case pri.Magic == MagicGood && scr.Magic != MagicGood && pri.CopyDone == FlagUnset:
		st.src = im.primary
	case scr.Magic == MagicGood:
		if len(io.l.images) > 1 && int(scr.ImageNum) != i {
			return st, nil
		}
		st.src, entries = io.l.scratch, statusRecordsPerSector
	case pri.Magic == MagicUnset && pri.CopyDone == FlagUnset:
		st.src = im.primary
	default:
		return st, nil
	}
	first := io.l.statusOff(st.src.size)
	if st.src == io.l.scratch {
		first = io.l.scratchStatusOff()
	}
	b, err := io.read(st.src, first, entries*io.l.writeAlign)
	if err != nil {
		return st, err
	}
	foundIdx := 0
	for k := range entries {
		erased := b[k*io.l.writeAlign] == io.l.erased
		if erased && st.found && foundIdx == 0 {
			foundIdx = k
		} else if !erased && !st.found {
			st.found = true
		} else if !erased && foundIdx != 0 {
			// A record after a gap: MCUboot reports an inconsistent status
			// and goes on from the gap (with primary-slot validation).
			break
		}
	}
	if st.found {
		if foundIdx == 0 {
			foundIdx = entries
		}
		st.idx, st.state = foundIdx/statusRecordsPerSector, foundIdx%statusRecordsPerSector
	}
	t := pri
	if st.src == io.l.scratch {
		t = scr
	}
	st.swapType = t.SwapType
	return st, nil
}

// scratchSwapSize is the swap_size of an interrupted swap (boot_find_status:
// the scratch trailer when its magic is good, else the primary's).
func (io *slotIO) scratchSwapSize(im imageLayout) (uint32, error) {
	scr, err := io.trailer(io.l.scratch)
	if err != nil || scr.Magic == MagicGood {
		return scr.SwapSize, err
	}
	pri, err := io.trailer(im.primary)
	return pri.SwapSize, err
}

// runScratchSwap swaps image i's slots through the scratch area from chunk
// idx, state, for a swap of type t of size bytes; sc holds the body keys
// and ciphers of encrypted images (swapscratch_enc.go).
func (io *slotIO) runScratchSwap(i int, im imageLayout, t SwapType, size uint32, idx, state int, sc swapCrypt) error {
	chunks := io.l.scratchChunks(im, size)
	if len(chunks) > io.l.maxSectors {
		return fmt.Errorf("boot: swap of %d bytes needs %d chunks, more than max_sectors %d", size, len(chunks), io.l.maxSectors)
	}
	for k := idx; k < len(chunks); k++ {
		if err := io.swapChunk(i, im, chunks[k], k, state, t, size, sc); err != nil {
			return err
		}
		state = 0
	}
	return nil
}

// swapChunk is boot_swap_sectors: chunk c (number idx) from state on.
func (io *slotIO) swapChunk(i int, im imageLayout, c scratchChunk, idx, state int, t SwapType, size uint32, sc swapCrypt) error {
	pri, sec, scr := im.primary, im.secondary, io.l.scratch
	copySz := c.size
	priTrailer := pri.sectors[io.l.trailerSectorIndex(pri)].Off - pri.off
	if c.off+c.size > priTrailer {
		copySz = min(pri.size-c.off-uint32(io.l.trailerSize()), io.l.scratchStatusOff())
	}
	useScratch := idx == 0 && copySz != c.size
	if state == 0 {
		if err := io.eraseRegion(scr, 0, scr.size, false); err != nil {
			return err
		}
		if idx == 0 {
			// The scratch keeps the swap type while the primary trailer
			// is erased.
			if err := io.statusInit(i, im, scr, t, size, nil, swapCrypt{keys: sc.keys}); err != nil {
				return err
			}
			if !useScratch {
				if err := io.eraseTrailer(pri); err != nil {
					return err
				}
				if err := io.statusInit(i, im, pri, t, size, nil, swapCrypt{keys: sc.keys}); err != nil {
					return err
				}
				if err := io.eraseRegion(scr, 0, scr.size, false); err != nil {
					return err
				}
			}
		}
		if err := io.copyBytes(sec.off+c.off, scr.off, copySz, nil, 0); err != nil {
			return err
		}
		if err := io.writeScratchRecord(pri, idx, 0, useScratch); err != nil {
			return err
		}
		state = 1
	}
	if state == 1 {
		eraseSz := c.size
		if idx == 0 {
			if err := io.eraseTrailer(sec); err != nil {
				return err
			}
			if useScratch {
				eraseSz = sec.sectors[io.l.trailerSectorIndex(sec)].Off - sec.off - c.off
			}
		}
		if eraseSz > 0 {
			if err := io.eraseRegion(sec, c.off, eraseSz, false); err != nil {
				return err
			}
		}
		// The old image is encrypted again on its way out of the primary.
		if err := io.copyBytes(pri.off+c.off, sec.off+c.off, copySz, sc.enc, c.off); err != nil {
			return err
		}
		if err := io.writeScratchRecord(pri, idx, 1, useScratch); err != nil {
			return err
		}
		state = 2
	}
	eraseSz := c.size
	if useScratch {
		if err := io.eraseTrailer(pri); err != nil {
			return err
		}
		eraseSz = priTrailer - c.off
	}
	if eraseSz > 0 {
		if err := io.eraseRegion(pri, c.off, eraseSz, false); err != nil {
			return err
		}
	}
	// The new image is decrypted on its way from the scratch (which holds
	// the secondary's bytes as they were) into the primary.
	if err := io.copyBytes(scr.off, pri.off+c.off, copySz, sc.dec, c.off); err != nil {
		return err
	}
	if useScratch {
		if err := io.moveScratchTrailer(i, im, c.off+copySz, size); err != nil {
			return err
		}
	}
	if err := io.writeScratchRecord(pri, idx, 2, false); err != nil {
		return err
	}
	if useScratch {
		// Erased from the last sector down: a scratch cut half-way must not
		// look like a trailer to copy back.
		return io.eraseRegion(scr, 0, scr.size, true)
	}
	return nil
}

// moveScratchTrailer copies the trailer chunk's two status records from
// the scratch to primary slot offset at, then rebuilds the primary
// trailer's fields from the scratch's, magic last.
func (io *slotIO) moveScratchTrailer(i int, im imageLayout, at, size uint32) error {
	pri, scr := im.primary, io.l.scratch
	n := uint32((statusRecordsPerSector - 1) * io.l.writeAlign)
	if err := io.copyBytes(scr.off+io.l.scratchStatusOff(), pri.off+at, n, nil, 0); err != nil {
		return err
	}
	st, err := io.trailer(scr)
	if err != nil {
		return err
	}
	if st.ImageOK == FlagSet {
		if err := io.writeFlag(pri, io.l.imageOKOff(pri.size)); err != nil {
			return err
		}
	}
	if st.SwapType != SwapNone {
		if err := io.writeSwapInfo(pri, st.SwapType, i); err != nil {
			return err
		}
	}
	if err := io.writeSwapSize(pri, size); err != nil {
		return err
	}
	if err := io.copyEncKeys(scr, pri); err != nil {
		return err
	}
	return io.writeMagic(pri)
}

// statusInit is swap_status_init, into area dst: swap_info, image_ok
// when the secondary's is set, swap_size, the TLV sizes (swap-offset
// only: tlv non-nil), the body keys when images are encrypted, then the
// magic. Swap-scratch and swap-offset both initialise their status here.
func (io *slotIO) statusInit(i int, im imageLayout, dst *slot, t SwapType, size uint32, tlv *[2]uint16, sc swapCrypt) error {
	secT, err := io.trailer(im.secondary)
	if err != nil {
		return err
	}
	if t != SwapNone {
		if err := io.writeSwapInfo(dst, t, i); err != nil {
			return err
		}
	}
	if secT.ImageOK == FlagSet {
		if err := io.writeFlag(dst, io.l.imageOKOff(dst.size)); err != nil {
			return err
		}
	}
	if err := io.writeSwapSize(dst, size); err != nil {
		return err
	}
	if tlv != nil {
		if err := io.writeTLVSizes(dst, tlv[0], tlv[1]); err != nil {
			return err
		}
	}
	if err := io.writeSwapKeys(dst, sc); err != nil {
		return err
	}
	return io.writeMagic(dst)
}

// writeScratchRecord writes the record of chunk idx, state, holding
// state+1: into the scratch trailer while the trailer chunk uses it, else
// into the primary's.
func (io *slotIO) writeScratchRecord(pri *slot, idx, state int, useScratch bool) error {
	dst, off := pri, io.l.statusOff(pri.size)
	if useScratch {
		dst, off = io.l.scratch, io.l.scratchStatusOff()
	}
	off += uint32((idx*statusRecordsPerSector + state) * io.l.writeAlign)
	return io.writeField(dst, off, []byte{byte(state + 1)})
}

// eraseRegion erases the sectors of s covering [off, off+n), one operation
// each, from the first up or (backwards) from the last down, as MCUboot's
// boot_erase_region.
func (io *slotIO) eraseRegion(s *slot, off, n uint32, backwards bool) error {
	var secs []flash.Sector
	for _, sec := range s.sectors {
		rel := sec.Off - s.off
		if rel+sec.Size > off && rel < off+n {
			secs = append(secs, sec)
		}
	}
	for k := range secs {
		sec := secs[k]
		if backwards {
			sec = secs[len(secs)-1-k]
		}
		if err := io.dev.Erase(sec.Off, sec.Size); err != nil {
			return err
		}
		if s == io.l.scratch {
			io.scratchErases++
		}
	}
	return nil
}

// resumeScratch finishes image i's interrupted scratch swap, or notes a
// recorded swap that wrote no status record yet, for decide to start again.
func (b *Bootloader) resumeScratch(i int, s *imageState, r *ImageReport) error {
	im := b.l.images[i]
	st, err := b.io.readScratchStatus(i, im)
	if err != nil {
		return err
	}
	if !st.found {
		switch st.swapType {
		case SwapTest, SwapPerm, SwapRevert:
			s.restart = st.swapType
		}
		return nil
	}
	size, err := b.io.scratchSwapSize(im)
	if err != nil {
		return err
	}
	if size == 0 || int(size) > int(im.primary.size) {
		r.note("a %s swap of %d bytes was recorded, more than the slots hold: ignored", st.swapType, size)
		return nil
	}
	sc, err := b.resumedScratchCrypt(im, st, size)
	if err != nil {
		return err
	}
	if err := b.io.runScratchSwap(i, im, st.swapType, size, st.idx, st.state, sc); err != nil {
		return err
	}
	s.action, s.resumed, s.swapSize = st.swapType, true, size
	r.Action, r.Resumed = s.action, true
	r.note("resumed an interrupted %s swap of %d bytes using scratch at chunk %d, state %d", s.action, size, st.idx, st.state)
	return nil
}

// reviewSwapTypes is MCUboot's boot_review_image_swap_types for
// swap-scratch, where each image's swap is finished before the next one
// starts: an image that resumed a swap or starts an upgrade shows that the
// device rebooted between the images of one upgrade, so a revert decided
// for an earlier image (already upgraded, its image_ok not yet set) is not
// a revert and is cancelled.
func (b *Bootloader) reviewSwapTypes(st []imageState, res *Result) {
	for k := 1; k < len(st); k++ {
		if !st[k].resumed && st[k].action != SwapTest && st[k].action != SwapPerm {
			continue
		}
		for j := range k {
			if st[j].action == SwapRevert && !st[j].resumed {
				st[j].action = SwapNone
				res.Images[j].note("revert cancelled: image %d is being upgraded (a reboot between two images' swaps)", k)
			}
		}
	}
}
