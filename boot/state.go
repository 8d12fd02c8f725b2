package boot

import "encoding/hex"

// SlotState describes what a slot holds, for `rampart boot show`.
type SlotState struct {
	Offset  uint32  `json:"offset"`
	Size    uint32  `json:"size"`
	Trailer Trailer `json:"trailer"`
	// Image fields are set when the slot starts with a parsable image.
	Version         string `json:"version,omitempty"`
	ImageSize       int    `json:"image_size,omitempty"`
	Valid           bool   `json:"valid"`
	Problem         string `json:"problem,omitempty"`
	SecurityCounter uint32 `json:"security_counter,omitempty"`
	Hash            string `json:"hash,omitempty"`
}

// ImageState is one image's two slots, counter and pending swap type.
type ImageState struct {
	Index         int       `json:"index"`
	Name          string    `json:"name"`
	Primary       SlotState `json:"primary"`
	Secondary     SlotState `json:"secondary"`
	NextSwap      SwapType  `json:"next_swap"` // what the trailers ask of the next boot
	SwapPending   bool      `json:"swap_in_progress"`
	DeviceCounter uint32    `json:"device_counter"`
}

// State reads every slot without changing anything.
func (b *Bootloader) State() ([]ImageState, error) {
	var out []ImageState
	for i, im := range b.l.images {
		st := ImageState{Index: i, Name: b.cfg.Images[i].Name, DeviceCounter: b.counters.Get(i)}
		for _, p := range []struct {
			s   *slot
			dst *SlotState
			max int
		}{{im.primary, &st.Primary, b.l.primaryMax(im)}, {im.secondary, &st.Secondary, im.maxImageSize(b.l)}} {
			p.dst.Offset, p.dst.Size = p.s.off, p.s.size
			t, err := b.io.trailer(p.s)
			if err != nil {
				return nil, err
			}
			p.dst.Trailer = t
			read := b.io.readImage
			if p.s == im.secondary && b.l.strategy == SwapOffset {
				read = b.io.readSlot // the image starts further in
			}
			data, err := read(p.s)
			if err != nil {
				return nil, err
			}
			if p.s == im.secondary && b.l.strategy == SwapOffset {
				off, err := b.io.secondaryImageOff(im, false)
				if err != nil {
					return nil, err
				}
				data = data[off:]
			}
			if allEqual(data[:min(len(data), 32)], b.l.erased) {
				p.dst.Problem = "empty"
				continue
			}
			v, err := b.validate(data, i, p.max, p.s == im.secondary)
			if err != nil {
				p.dst.Problem = err.Error()
				if sz, err := b.headerSize(p.s); err == nil {
					p.dst.ImageSize = sz
				}
				continue
			}
			p.dst.Valid = true
			p.dst.Version = v.version().String()
			p.dst.ImageSize = v.size
			p.dst.SecurityCounter = v.secCnt
			p.dst.Hash = hex.EncodeToString(v.digest)
		}
		st.SwapPending = b.l.strategy == SwapMove && swapInProgress(st.Primary.Trailer, st.Secondary.Trailer)
		st.NextSwap = b.l.swapType(st.Primary.Trailer, st.Secondary.Trailer)
		if b.l.strategy == SwapOffset {
			os, err := b.io.readOffsetStatus(im)
			if err != nil {
				return nil, err
			}
			if st.SwapPending = os.found && os.done > 0; os.found && os.swapType != SwapNone {
				st.NextSwap = os.swapType
			}
		}
		if b.l.strategy == SwapScratch {
			ss, err := b.io.readScratchStatus(i, im)
			if err != nil {
				return nil, err
			}
			st.SwapPending = ss.found
			switch {
			case ss.found:
				st.NextSwap = ss.swapType
			case ss.swapType == SwapTest || ss.swapType == SwapPerm || ss.swapType == SwapRevert:
				st.NextSwap = ss.swapType
			}
		}
		if st.SwapPending {
			if b.l.strategy == SwapMove {
				st.NextSwap = st.Primary.Trailer.SwapType
			}
		} else if (st.NextSwap == SwapTest || st.NextSwap == SwapPerm) && st.Secondary.Problem == "empty" {
			// A request left beside an erased image header (an overwrite
			// cut before its last erase): MCUboot's boot_validate_slot finds
			// no image and the next boot swaps nothing.
			st.NextSwap = SwapNone
		}
		out = append(out, st)
	}
	return out, nil
}
