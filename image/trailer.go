package image

import (
	"bytes"
	"encoding/binary"
)

// Trailer constants (bootutil_priv.h, imgtool).
const (
	DefaultMaxAlign   = 8   // BOOT_MAX_ALIGN default
	DefaultMaxSectors = 128 // imgtool's default -M
	BootMagicSize     = 16
	DefaultErasedVal  = 0xff
	BootFlagSet       = 0x01 // BOOT_FLAG_SET: image_ok / copy_done written
)

// Swap types stored in the low nibble of swap_info (BOOT_SWAP_TYPE_*).
const (
	SwapTypeNone   = 1
	SwapTypeTest   = 2
	SwapTypePerm   = 3
	SwapTypeRevert = 4
	SwapTypeFail   = 5
	SwapTypePanic  = 0xff
)

// bootMagic is the trailer magic when BOOT_MAX_ALIGN is 8.
var bootMagic = [BootMagicSize]byte{
	0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
	0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
}

// bootMagic2 is the tail of the magic for other BOOT_MAX_ALIGN values; the
// first two bytes then hold max-align, little-endian.
var bootMagic2 = [14]byte{0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a}

// BootMagic returns the 16-byte trailer magic for a BOOT_MAX_ALIGN value.
func BootMagic(maxAlign int) []byte {
	if maxAlign == DefaultMaxAlign {
		return append([]byte(nil), bootMagic[:]...)
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(maxAlign))
	return append(b, bootMagic2[:]...)
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// TrailerLayout describes the trailer imgtool reserves at the end of a slot.
type TrailerLayout struct {
	Align         int  // flash write alignment (--align): 1, 2, 4, 8, 16, 32
	MaxAlign      int  // BOOT_MAX_ALIGN (--max-align): 8, 16, 32
	MaxSectors    int  // swap status entries (-M)
	OverwriteOnly bool // no swap status, no image keys
	Encrypted     bool // room for two encryption keys
	SaveEncTLV    bool // keys saved as their TLV (BOOT_SWAP_SAVE_ENCTLV)
	EncTLVLen     int  // length of the key-exchange TLV value, with SaveEncTLV
}

// Size is the trailer size as imgtool computes it: swap status
// (max_sectors*3*align), two keys when encrypted, four max-align fields
// (image_ok, copy_done, swap_info, swap_size) and the magic rounded up to
// max-align; overwrite-only keeps only two fields and the magic.
func (l TrailerLayout) Size() int {
	magic := alignUp(BootMagicSize, l.MaxAlign)
	if l.OverwriteOnly {
		return 2*l.MaxAlign + magic
	}
	n := l.MaxSectors * 3 * l.Align
	if l.Encrypted {
		k := alignUp(16, l.MaxAlign)
		if l.SaveEncTLV {
			k = alignUp(l.EncTLVLen, l.MaxAlign)
		}
		n += 2 * k
	}
	return n + 4*l.MaxAlign + magic
}

// ImageOKOffset is the offset of image_ok counted back from the slot end.
func ImageOKOffset(maxAlign int) int { return alignUp(BootMagicSize, maxAlign) + maxAlign }

// Trailer is what can be read back from the end of a padded image or slot.
type Trailer struct {
	Magic      []byte // last 16 bytes
	MagicValid bool   // Magic is a known boot magic
	MaxAlign   int    // decoded from the magic (8 for the classic magic)
	ImageOK    byte
	CopyDone   byte
	SwapInfo   byte
	SwapSize   uint32
}

// ParseTrailer reads the trailer fields at the end of slot as imgtool
// dumpinfo does. With an unknown magic only Magic is set.
func ParseTrailer(slot []byte) (*Trailer, error) {
	if len(slot) < BootMagicSize {
		return nil, fieldErr("trailer magic", 0, ErrTruncated, "%d bytes, need %d", len(slot), BootMagicSize)
	}
	t := &Trailer{Magic: slot[len(slot)-BootMagicSize:]}
	switch {
	case bytes.Equal(t.Magic, bootMagic[:]):
		t.MaxAlign = DefaultMaxAlign
	case bytes.Equal(t.Magic[2:], bootMagic2[:]):
		t.MaxAlign = int(binary.LittleEndian.Uint16(t.Magic))
	default:
		return t, nil
	}
	m := t.MaxAlign
	if m != 8 && m != 16 && m != 32 {
		return t, nil
	}
	off := len(slot) - alignUp(BootMagicSize, m)
	if off-4*m < 0 {
		return t, fieldErr("trailer", 0, ErrTruncated, "slot of %d bytes too small for a trailer with max-align %d", len(slot), m)
	}
	t.MagicValid = true
	off -= m
	t.ImageOK = slot[off]
	off -= m
	t.CopyDone = slot[off]
	off -= m
	t.SwapInfo = slot[off]
	off -= m
	t.SwapSize = binary.LittleEndian.Uint32(slot[off:])
	return t, nil
}
