package boot

import "rampart/image"

// Encrypted images with swap-scratch and swap-offset (MCUBOOT_ENC_IMAGES
// with swap_scratch.c and swap_offset.c). MCUboot's boot_copy_region
// decides by the areas alone: a copy from the primary slot into another
// area encrypts with the old image's key (key field 0), a copy from
// another area into the primary decrypts with the new image's key (field
// 1), and a copy between two other areas (secondary into scratch) moves
// the ciphertext as it is. The counter is the byte's offset from its
// image's start (with swap-offset, the primary sector's offset: its
// sector_off argument). Both keys go into every trailer swap_status_init
// writes (scratch, primary, and the secondary in swap-offset's revert
// fixup) and move with the trailer from the scratch to the primary. The
// headers that choose the ciphers are read where the swap has left them
// (each mode's boot_read_image_header).

// swapCrypt is the body keys and ciphers of one swap (zero without
// encrypted images).
type swapCrypt struct {
	keys     [2][]byte   // the primary image's and the secondary image's body keys
	enc, dec *bodyCipher // encrypts the old image into the secondary; decrypts the new one into the primary
	// raw are the key fields as a resumed swap read them (nil: fresh).
	raw [2][]byte
}

// freshScratchCrypt is the swapCrypt of a scratch swap about to start:
// keys unwrapped from both images' key TLVs (boot_swap_image), headers
// where they are.
func (b *Bootloader) freshScratchCrypt(im imageLayout) (swapCrypt, error) {
	var sc swapCrypt
	if !b.l.encrypted {
		return sc, nil
	}
	keys, err := b.swapKeys(im)
	if err != nil {
		return sc, err
	}
	old, err := b.io.headerIn(im.primary)
	if err != nil {
		return sc, err
	}
	nw, err := b.io.headerIn(im.secondary)
	if err != nil {
		return sc, err
	}
	return newSwapCrypt(keys, old, nw)
}

// resumedScratchCrypt is the swapCrypt of an interrupted scratch swap:
// the keys from the trailer that holds the status, the headers where the
// swap left them. The slots' first chunk is swapped last: once its state
// 0 is done the new header is in the scratch, once its state 1 is done
// the old header is in the secondary; after the last chunk both are
// exchanged.
func (b *Bootloader) resumedScratchCrypt(im imageLayout, st scratchStatus, size uint32) (swapCrypt, error) {
	var sc swapCrypt
	if !b.l.encrypted || st.src == nil {
		return sc, nil
	}
	for k := range sc.keys {
		key, err := b.io.readEncKey(st.src, k)
		if err != nil {
			return sc, err
		}
		sc.keys[k] = key
	}
	n := len(b.l.scratchChunks(im, size))
	oldAt, newAt := im.primary, im.secondary
	switch {
	case st.idx >= n:
		oldAt, newAt = im.secondary, im.primary
	case st.idx == n-1:
		if st.state >= 1 {
			newAt = b.l.scratch
		}
		if st.state >= 2 {
			oldAt = im.secondary
		}
	}
	old, err := b.io.headerIn(oldAt)
	if err != nil {
		return sc, err
	}
	nw, err := b.io.headerIn(newAt)
	if err != nil {
		return sc, err
	}
	return newSwapCrypt(sc.keys, old, nw)
}

func newSwapCrypt(keys [2][]byte, old, nw *image.Header) (swapCrypt, error) {
	sc := swapCrypt{keys: keys}
	var err error
	if sc.enc, err = newBodyCipher(keys[0], old); err != nil {
		return sc, err
	}
	sc.dec, err = newBodyCipher(keys[1], nw)
	return sc, err
}

// headerIn is the image header at the start of area s, or nil when it
// does not parse.
func (io *slotIO) headerIn(s *slot) (*image.Header, error) {
	b, err := io.read(s, 0, image.HeaderSize)
	if err != nil {
		return nil, err
	}
	h, perr := image.ParseHeader(b)
	if perr != nil {
		return nil, nil
	}
	return &h, nil
}

// copyEncKeys copies both key fields of area src's trailer into dst's, as
// they are (MCUboot rewrites its boot_status copy of them).
func (io *slotIO) copyEncKeys(src, dst *slot) error {
	if !io.l.encrypted {
		return nil
	}
	n := io.l.encKeyFieldSize()
	for k := range 2 {
		f, err := io.read(src, io.l.encKeyOff(src.size, k), n)
		if err != nil {
			return err
		}
		if err := io.writeField(dst, io.l.encKeyOff(dst.size, k), f); err != nil {
			return err
		}
	}
	return nil
}

// resumedSwapCrypt is the swapCrypt of an interrupted swap-offset swap:
// the key fields of the trailer src holding its status, as they are
// (MCUboot's boot_read_enc_key fills boot_status with them, and its
// swap_status_init writes them back), and the headers hdrs of the old and
// the new image found where the swap left them.
func (io *slotIO) resumedSwapCrypt(src *slot, hdrs [2]*image.Header) (swapCrypt, error) {
	var sc swapCrypt
	if !io.l.encrypted {
		return sc, nil
	}
	n := io.l.encKeyFieldSize()
	for k := range 2 {
		f, err := io.read(src, io.l.encKeyOff(src.size, k), n)
		if err != nil {
			return sc, err
		}
		sc.raw[k] = f
		if !allEqual(f, 0xff) {
			sc.keys[k] = f[:io.l.encKeySize()]
		}
	}
	raw := sc.raw
	sc, err := newSwapCrypt(sc.keys, hdrs[0], hdrs[1])
	sc.raw = raw
	return sc, err
}

// writeSwapKeys writes sc's key fields into dst's trailer: as they were
// read when the swap was resumed, else the keys padded with 0xff.
func (io *slotIO) writeSwapKeys(dst *slot, sc swapCrypt) error {
	if !io.l.encrypted {
		return nil
	}
	if sc.raw[0] == nil {
		return io.writeEncKeys(dst, sc.keys)
	}
	for k, f := range sc.raw {
		if err := io.writeField(dst, io.l.encKeyOff(dst.size, k), f); err != nil {
			return err
		}
	}
	return nil
}
