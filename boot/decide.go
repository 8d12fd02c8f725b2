package boot

// swapTypeFromTable applies MCUboot's swap table (boot_swap_tables, first
// match wins) to the trailers of an image's primary and secondary slots.
//
//	secondary magic good, secondary image_ok unset              → test
//	secondary magic good, secondary image_ok set                 → permanent
//	primary magic good, primary image_ok unset, copy_done set    → revert
//	anything else                                                → none
//
// One refinement: a secondary trailer that a revert wrote to protect itself
// (image_ok set and swap_info type revert, see startRevert) stays a revert,
// so that the old image is not refused as a downgrade.
func swapTypeFromTable(pri, sec Trailer) SwapType {
	if sec.Magic == MagicGood {
		switch sec.ImageOK {
		case FlagUnset:
			return SwapTest
		case FlagSet:
			if sec.SwapType == SwapRevert {
				return SwapRevert
			}
			return SwapPerm
		}
	}
	if pri.Magic == MagicGood && pri.ImageOK == FlagUnset && pri.CopyDone == FlagSet {
		return SwapRevert
	}
	return SwapNone
}

// swapInProgress reports whether the primary trailer records a swap that
// was started and not finished (MCUboot's swap_status_source returning the
// primary slot): the primary has the magic and no copy_done, the secondary
// no longer has the magic, and swap_info names a swap.
func swapInProgress(pri, sec Trailer) bool {
	if pri.Magic != MagicGood || pri.CopyDone != FlagUnset || sec.Magic == MagicGood {
		return false
	}
	switch pri.SwapType {
	case SwapTest, SwapPerm, SwapRevert:
		return pri.SwapSize > 0
	}
	return false
}

// swapType is the swap table for l's strategy: swap-offset's has one more
// row first, a secondary trailer with the magic, image_ok unset and
// copy_done set (written by its revert fixup) asking for a revert.
func (l *layout) swapType(pri, sec Trailer) SwapType {
	if l.strategy == SwapOffset && sec.Magic == MagicGood && sec.ImageOK == FlagUnset && sec.CopyDone == FlagSet {
		return SwapRevert
	}
	return swapTypeFromTable(pri, sec)
}
