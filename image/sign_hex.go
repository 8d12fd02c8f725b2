package image

import "rampart/image/ihex"

// SignHex is [Sign] with the output as Intel HEX, the image's first byte at
// address base. With Pad, Confirm or Test the file holds, after the image,
// only the trailer fields that differ from erased flash (the boot magic,
// and image_ok for Test and Confirm), as imgtool writes them: the slot's
// erased bytes are left out.
func SignHex(firmware []byte, o *SignOptions, base uint32) (*SignResult, []byte, error) {
	res, err := Sign(firmware, o)
	if err != nil {
		return nil, nil, err
	}
	m := &ihex.Memory{}
	m.Put(base, res.Bytes[:res.ImageSize])
	if o.Pad || o.Confirm || o.Test {
		putTrailerFields(m, base+uint32(o.SlotSize), o, res.Trailer)
	}
	return res, m.Marshal(), nil
}

// putTrailerFields writes the trailer fields a padded image sets, for a
// slot ending at end: image_ok's flag row (set for Confirm, erased for
// Test) unless overwrite-only, and the boot magic.
func putTrailerFields(m *ihex.Memory, end uint32, o *SignOptions, l TrailerLayout) {
	if (o.Test || o.Confirm) && !l.OverwriteOnly {
		flag := make([]byte, l.MaxAlign)
		for i := range flag {
			flag[i] = o.erased()
		}
		if o.Confirm {
			flag[0] = BootFlagSet
		}
		m.Put(end-uint32(ImageOKOffset(l.MaxAlign)), flag)
	}
	m.Put(end-BootMagicSize, BootMagic(l.MaxAlign))
}
