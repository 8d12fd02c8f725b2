package boot

import (
	"bytes"
	"fmt"
)

// SlotName names a slot of an image.
type SlotName string

// The two slots of an image.
const (
	Primary   SlotName = "primary"
	Secondary SlotName = "secondary"
)

func (b *Bootloader) slot(i int, name SlotName) (*slot, error) {
	if i < 0 || i >= len(b.l.images) {
		return nil, fmt.Errorf("boot: image index %d: the flash map has %d images", i, len(b.l.images))
	}
	switch name {
	case Primary:
		return b.l.images[i].primary, nil
	case Secondary:
		return b.l.images[i].secondary, nil
	}
	return nil, fmt.Errorf("boot: slot %q is neither %q nor %q", name, Primary, Secondary)
}

// Install erases a slot of image i and writes data at its start, as an
// update client (or the factory, for the primary slot) would. data may be
// an imgtool --pad/--confirm image filling the whole slot. Install does not
// validate: the bootloader will.
func (b *Bootloader) Install(i int, name SlotName, data []byte) error {
	s, err := b.slot(i, name)
	if err != nil {
		return err
	}
	if len(data) > int(s.size) {
		return fmt.Errorf("%w: %d bytes into a %d-byte %s slot", ErrTooLarge, len(data), s.size, name)
	}
	at := uint32(0)
	if name == Secondary && b.l.strategy == SwapOffset {
		// MCUboot's swap-offset expects the update one sector in.
		at = s.sectors[0].Size
		if len(data) > int(s.size-at) {
			return fmt.Errorf("%w: %d bytes into a %d-byte %s slot after its offset sector", ErrTooLarge, len(data), s.size-at, name)
		}
	}
	if err := b.io.eraseFrom(s, 0); err != nil {
		return err
	}
	n := alignUp(len(data), b.l.writeAlign)
	buf := bytes.Repeat([]byte{b.l.erased}, n)
	copy(buf, data)
	for off := 0; off < n; off += copyChunk {
		end := min(off+copyChunk, n)
		if err := b.dev.Write(s.off+at+uint32(off), buf[off:end]); err != nil {
			return err
		}
	}
	return nil
}

// RequestUpgrade marks image i's secondary slot for a test (permanent false)
// or permanent upgrade at the next boot (MCUboot's boot_set_pending). The
// magic is written last, so a power cut leaves either no request or a
// complete one.
func (b *Bootloader) RequestUpgrade(i int, permanent bool) error {
	s, err := b.slot(i, Secondary)
	if err != nil {
		return err
	}
	t, err := b.io.trailer(s)
	if err != nil {
		return err
	}
	switch t.Magic {
	case MagicBad:
		return fmt.Errorf("%w: the secondary slot's trailer magic is corrupt; install the image again", ErrUnsupportedRequest)
	case MagicGood:
		if permanent && t.ImageOK == FlagUnset {
			return b.io.writeFlag(s, b.l.imageOKOff(s.size))
		}
		return nil
	}
	typ := SwapTest
	if permanent {
		typ = SwapPerm
		if t.ImageOK == FlagUnset {
			if err := b.io.writeFlag(s, b.l.imageOKOff(s.size)); err != nil {
				return err
			}
		}
	}
	if t.SwapType == SwapNone {
		if err := b.io.writeSwapInfo(s, typ, i); err != nil {
			return err
		}
	}
	return b.io.writeMagic(s)
}

// Confirm marks the image running from image i's primary slot as good
// (MCUboot's boot_set_confirmed), so that the next boot keeps it and raises
// the security counter. Confirming an image that is already permanent does
// nothing, and so does confirming with overwrite-only, where nothing can be
// reverted: there the primary trailer is a copy of the secondary's, whose
// image_ok bytes the copy has already programmed (with the erased value when
// the request was a test), so a flash part that refuses a second write to a
// programmed word would refuse the write anyway.
func (b *Bootloader) Confirm(i int) error {
	s, err := b.slot(i, Primary)
	if err != nil {
		return err
	}
	if b.l.strategy.directXIP() {
		if b.active[i] == "" {
			return fmt.Errorf("%w: direct-XIP: image %d has not booted yet", ErrUnsupportedRequest, i)
		}
		s, _ = b.slot(i, b.active[i])
	}
	if b.l.strategy == OverwriteOnly {
		return nil
	}
	t, err := b.io.trailer(s)
	if err != nil {
		return err
	}
	switch {
	case t.Magic == MagicUnset:
		return nil
	case t.Magic == MagicBad:
		return fmt.Errorf("%w: the primary slot's trailer magic is corrupt", ErrUnsupportedRequest)
	case t.ImageOK == FlagSet:
		return nil
	case t.ImageOK == FlagBad:
		return fmt.Errorf("%w: the primary slot's image_ok holds a corrupt value", ErrUnsupportedRequest)
	}
	return b.io.writeFlag(s, b.l.imageOKOff(s.size))
}
