package boot

import "fmt"

// Swap using move (MCUboot's swap-move, re-derived): with n the number of
// sectors the larger of the two images covers,
//
//	move phase, k = 0..n-1:   primary[n-k] ← primary[n-1-k]      (record k)
//	swap phase, j = 0..n-1:   primary[j]   ← secondary[j]        (record n+2j)
//	                          secondary[j] ← primary[j+1]        (record n+2j+1)
//
// Each step erases its destination sector, copies the source and then
// writes one status record in the primary trailer. A step's source is only
// overwritten by a later step, so a step cut by a power failure is simply
// redone from the start on the next boot.

// statusRecordOff is the slot offset of the status record of step.
func (l *layout) statusRecordOff(s *slot, step, n int) uint32 {
	idx := step
	if step >= n {
		idx = l.maxSectors + (step - n)
	}
	return l.statusOff(s.size) + uint32(idx*l.writeAlign)
}

// statusValue is the byte a step's record holds, MCUboot's state number:
// 1 for a move and for a sector's first swap step, 2 for its second.
func statusValue(step, n int) byte {
	if step >= n && (step-n)%2 == 1 {
		return 2
	}
	return 1
}

// swapSectors is n for a swap of size bytes in slot s (all sectors one size).
func swapSectors(s *slot, size uint32) int {
	sz := s.sectors[0].Size
	return int((size + sz - 1) / sz)
}

// completedSteps counts the status records written in order from the first.
func (io *slotIO) completedSteps(pri *slot, n int) (int, error) {
	wa := io.l.writeAlign
	first := io.l.statusOff(pri.size)
	b, err := io.read(pri, first, io.l.statusSize())
	if err != nil {
		return 0, err
	}
	for step := range 3 * n {
		off := int(io.l.statusRecordOff(pri, step, n) - first)
		if allEqual(b[off:off+wa], io.l.erased) {
			return step, nil
		}
	}
	return 3 * n, nil
}

// startSwap records a new swap of type t in image i's trailers and runs it,
// in MCUboot's order (swap_run, fixup_revert, swap_status_init):
//
//	revert, secondary magic unset: erase the secondary trailer; write its
//	        image_ok, swap_size, [swap_info = revert], magic
//	erase the primary trailer; write swap_info, [image_ok when the
//	        secondary's is set], swap_size, magic
//	erase the secondary trailer; run the moves and swaps
//
// With encrypted images the two body keys (keys[0] the primary image's,
// keys[1] the secondary's) are written after swap_size, before the magic.
func (io *slotIO) startSwap(i int, im imageLayout, t SwapType, size uint32, keys [2][]byte) error {
	pri, sec := im.primary, im.secondary
	if err := io.fixupRevert(i, im, t, size); err != nil {
		return err
	}
	secTrailer, err := io.trailer(sec)
	if err != nil {
		return err
	}
	if err := io.eraseTrailer(pri); err != nil {
		return err
	}
	if err := io.writeSwapInfo(pri, t, i); err != nil {
		return err
	}
	if secTrailer.ImageOK == FlagSet {
		if err := io.writeFlag(pri, io.l.imageOKOff(pri.size)); err != nil {
			return err
		}
	}
	if err := io.writeSwapSize(pri, size); err != nil {
		return err
	}
	if io.l.encrypted {
		if err := io.writeEncKeys(pri, keys); err != nil {
			return err
		}
	}
	// The magic goes last: with it the primary trailer takes over the request.
	if err := io.writeMagic(pri); err != nil {
		return err
	}
	if err := io.eraseTrailer(sec); err != nil {
		return err
	}
	return io.runSwap(im, size, 0)
}

// fixupRevert protects a revert before its first move (MCUboot's
// fixup_revert): re-initialising the primary trailer erases the only record
// of the revert, so it is first recorded in an unset secondary trailer as a
// confirmed request. With downgrade prevention the request is also marked
// as a revert (swap_info), so that an interrupted revert is not refused as a
// downgrade (docs/boot.md §5); MCUboot has no such check in swap modes.
func (io *slotIO) fixupRevert(i int, im imageLayout, t SwapType, size uint32) error {
	sec := im.secondary
	if t != SwapRevert {
		return nil
	}
	tr, err := io.trailer(sec)
	if err != nil || tr.Magic != MagicUnset {
		return err
	}
	if err := io.eraseTrailer(sec); err != nil {
		return err
	}
	if err := io.writeFlag(sec, io.l.imageOKOff(sec.size)); err != nil {
		return err
	}
	if err := io.writeSwapSize(sec, size); err != nil {
		return err
	}
	if io.markRevert {
		if err := io.writeSwapInfo(sec, SwapRevert, i); err != nil {
			return err
		}
	}
	return io.writeMagic(sec)
}

// resumeSwap finishes a swap recorded in the primary trailer. Before the
// first move is recorded it redoes what MCUboot's boot_move_sector_up redoes
// then: the revert fixup, and the erase of the secondary trailer.
func (io *slotIO) resumeSwap(i int, im imageLayout, t SwapType, size uint32) (int, error) {
	n := swapSectors(im.primary, size)
	done, err := io.completedSteps(im.primary, n)
	if err != nil {
		return 0, err
	}
	if done == 0 {
		if err := io.fixupRevert(i, im, t, size); err != nil {
			return 0, err
		}
		if err := io.eraseTrailer(im.secondary); err != nil {
			return 0, err
		}
	}
	return done, io.runSwap(im, size, done)
}

// runSwap performs steps from..3n-1.
func (io *slotIO) runSwap(im imageLayout, size uint32, from int) error {
	pri, sec := im.primary, im.secondary
	n := swapSectors(pri, size)
	if n+1 > io.l.trailerSectorIndex(pri) || n > io.l.trailerSectorIndex(sec) || n > io.l.maxSectors {
		return fmt.Errorf("boot: swap of %d bytes does not fit the slots", size)
	}
	enc, dec, err := io.swapCiphers(im, n, from)
	if err != nil {
		return err
	}
	for step := from; step < 3*n; step++ {
		var err error
		switch j := step - n; {
		case step < n:
			err = io.moveSector(pri.sectors[n-1-step], pri.sectors[n-step], nil, 0)
		case j%2 == 0:
			err = io.moveSector(sec.sectors[j/2], pri.sectors[j/2], dec, pri.sectors[j/2].Off-pri.off)
		default:
			err = io.moveSector(pri.sectors[j/2+1], sec.sectors[j/2], enc, sec.sectors[j/2].Off-sec.off)
		}
		if err != nil {
			return err
		}
		if err := io.writeField(pri, io.l.statusRecordOff(pri, step, n), []byte{statusValue(step, n)}); err != nil {
			return err
		}
	}
	return nil
}

// finishImageOK makes a reverted or permanent image permanent (MCUboot's
// swap_set_image_ok), unless it already is.
func (io *slotIO) finishImageOK(im imageLayout, t SwapType) error {
	tr, err := io.trailer(im.primary)
	if err != nil {
		return err
	}
	if (t == SwapRevert || t == SwapPerm) && tr.ImageOK == FlagUnset {
		return io.writeFlag(im.primary, io.l.imageOKOff(im.primary.size))
	}
	return nil
}

// finishCopyDone marks the swap done (swap_set_copy_done); a copy_done
// already written is left alone, so it can be repeated after a power cut.
func (io *slotIO) finishCopyDone(im imageLayout) error {
	tr, err := io.trailer(im.primary)
	if err != nil {
		return err
	}
	if tr.CopyDone == FlagUnset {
		return io.writeFlag(im.primary, io.l.copyDoneOff(im.primary.size))
	}
	return nil
}

// overwrite copies the secondary slot over the primary as MCUboot's
// overwrite-only upgrade does (boot_copy_image): erase every primary sector,
// copy the whole slot (the trailer with its request included) in 1 KiB
// writes; then (overwriteDone, after the security counter is raised) erase
// the secondary's first sector (the image header) and its last (the
// trailer) so the request is not repeated. A power cut anywhere
// before the last erase leaves the request in place and the next boot starts
// again; after it the primary holds the whole image. dec, when not nil,
// decrypts the secondary's body on the way.
func (io *slotIO) overwrite(im imageLayout, dec *bodyCipher) error {
	if err := io.eraseFrom(im.primary, 0); err != nil {
		return err
	}
	return io.copyBytes(im.secondary.off, im.primary.off, im.primary.size, dec, 0)
}

// overwriteDone erases the secondary's first and last sectors after an
// overwrite (see overwrite).
func (io *slotIO) overwriteDone(im imageLayout) error {
	if err := io.eraseSector(im.secondary, 0); err != nil {
		return err
	}
	return io.eraseSector(im.secondary, len(im.secondary.sectors)-1)
}
