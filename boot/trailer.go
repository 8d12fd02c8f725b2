package boot

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Trailer field values, as MCUboot defines them.
const (
	magicSize = 16
	flagSet   = 0x01

	statusRecordsPerSector = 3 // one move record, two swap records
)

// magic8 is the trailer magic for BOOT_MAX_ALIGN 8; for other alignments the
// first two bytes are the alignment (little-endian) and the rest magicTail.
var (
	magic8    = []byte{0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80}
	magicTail = []byte{0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a}
)

// Magic is the decoded state of a trailer's magic.
type Magic int

// Magic states.
const (
	MagicUnset Magic = iota // all bytes erased
	MagicGood               // the MCUboot magic
	MagicBad                // anything else
)

func (m Magic) String() string { return [...]string{"unset", "good", "bad"}[m] }

// MarshalText makes Magic print as its name in JSON.
func (m Magic) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Flag is the decoded state of a one-byte trailer flag.
type Flag int

// Flag states.
const (
	FlagUnset Flag = iota // erased
	FlagSet               // 0x01
	FlagBad               // anything else
)

func (f Flag) String() string { return [...]string{"unset", "set", "bad"}[f] }

// MarshalText makes Flag print as its name in JSON.
func (f Flag) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// SwapType is MCUboot's swap type.
type SwapType uint8

// Swap types with MCUboot's numeric values (they are written to swap_info).
const (
	SwapNone   SwapType = 1
	SwapTest   SwapType = 2
	SwapPerm   SwapType = 3
	SwapRevert SwapType = 4
	SwapFail   SwapType = 5
	SwapPanic  SwapType = 0xff
)

func (t SwapType) String() string {
	switch t {
	case SwapNone:
		return "none"
	case SwapTest:
		return "test"
	case SwapPerm:
		return "permanent"
	case SwapRevert:
		return "revert"
	case SwapFail:
		return "fail"
	case SwapPanic:
		return "panic"
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// MarshalText makes SwapType print as its name in JSON.
func (t SwapType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Trailer is a decoded image trailer (the end of a slot).
type Trailer struct {
	Magic    Magic    `json:"magic"`
	SwapType SwapType `json:"swap_type"` // low nibble of swap_info; SwapNone when erased
	ImageNum uint8    `json:"image_num"` // high nibble of swap_info
	CopyDone Flag     `json:"copy_done"`
	ImageOK  Flag     `json:"image_ok"`
	SwapSize uint32   `json:"swap_size"` // 0 when erased
}

// Offsets of the trailer fields from the start of a slot of the given size,
// exactly as MCUboot computes them from BOOT_MAX_ALIGN.
func (l *layout) magicOff(size uint32) uint32 { return size - magicSize }
func (l *layout) imageOKOff(size uint32) uint32 {
	return size - uint32(l.magicAreaSize()) - uint32(l.maxAlign)
}
func (l *layout) copyDoneOff(size uint32) uint32 { return l.imageOKOff(size) - uint32(l.maxAlign) }
func (l *layout) swapInfoOff(size uint32) uint32 { return l.copyDoneOff(size) - uint32(l.maxAlign) }
func (l *layout) swapSizeOff(size uint32) uint32 {
	if l.strategy == SwapOffset {
		return l.tlvSizesOff(size) - uint32(l.maxAlign)
	}
	return l.swapInfoOff(size) - uint32(l.maxAlign)
}

// tlvSizesOff is swap-offset's field holding the two images' unprotected
// TLV area sizes (boot_unprotected_tlv_sizes_off).
func (l *layout) tlvSizesOff(size uint32) uint32 { return l.swapInfoOff(size) - uint32(l.maxAlign) }
func (l *layout) statusOff(size uint32) uint32   { return size - uint32(l.trailerSize()) }

// encKeyOff is the offset of key field k (0: the primary image's body key,
// 1: the secondary's), below swap_size as boot_enc_key_off places them.
func (l *layout) encKeyOff(size uint32, k int) uint32 {
	return l.swapSizeOff(size) - uint32((k+1)*l.encKeyFieldSize())
}

// magicBytes is the magic field as written: BOOT_MAGIC_ALIGN_SIZE bytes with
// the 16-byte magic at their end and the erased value before it.
func (l *layout) magicBytes() []byte {
	b := bytes.Repeat([]byte{l.erased}, l.magicAreaSize())
	m := b[len(b)-magicSize:]
	if l.maxAlign == 8 {
		copy(m, magic8)
	} else {
		binary.LittleEndian.PutUint16(m, uint16(l.maxAlign))
		copy(m[2:], magicTail)
	}
	return b
}

// ParseTrailer decodes the trailer at the end of slotTail, the last bytes of
// a slot (at least the trailer's info size). maxAlign and erased describe the
// device. It never fails on content: hostile bytes decode as "bad" states.
func ParseTrailer(slotTail []byte, maxAlign int, erased byte) (Trailer, error) {
	l := &layout{maxAlign: maxAlign, erased: erased, strategy: OverwriteOnly}
	if maxAlign != 8 && maxAlign != 16 && maxAlign != 32 {
		return Trailer{}, fmt.Errorf("boot: trailer: max_align %d is not 8, 16 or 32", maxAlign)
	}
	if len(slotTail) < l.infoSize() {
		return Trailer{}, fmt.Errorf("boot: trailer: %d bytes, need at least %d", len(slotTail), l.infoSize())
	}
	return l.decodeTrailer(slotTail), nil
}

// decodeTrailer decodes the trailer info from the end of b.
func (l *layout) decodeTrailer(b []byte) Trailer {
	size := uint32(len(b))
	var t Trailer
	m := b[l.magicOff(size):]
	switch {
	case allEqual(m, l.erased):
		t.Magic = MagicUnset
	case l.maxAlign == 8 && bytes.Equal(m, magic8):
		t.Magic = MagicGood
	case l.maxAlign != 8 && bytes.Equal(m[2:], magicTail):
		// Like MCUboot, only the fixed part is compared: the alignment
		// bytes record how the image was padded.
		t.Magic = MagicGood
	default:
		t.Magic = MagicBad
	}
	t.ImageOK = l.flag(b[l.imageOKOff(size)])
	t.CopyDone = l.flag(b[l.copyDoneOff(size)])
	if si := b[l.swapInfoOff(size)]; si == l.erased {
		t.SwapType = SwapNone
	} else {
		t.SwapType, t.ImageNum = SwapType(si&0x0f), si>>4
	}
	ss := b[l.swapSizeOff(size):][:4]
	if !allEqual(ss, l.erased) {
		t.SwapSize = binary.LittleEndian.Uint32(ss)
	}
	return t
}

func (l *layout) flag(b byte) Flag {
	switch {
	case b == l.erased:
		return FlagUnset
	case b == flagSet:
		return FlagSet
	}
	return FlagBad
}

func allEqual(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

// EncodeTrailer returns the info part of a trailer (l.infoSize bytes, to be
// placed at the very end of a slot) holding t; fields t leaves unset stay
// erased. It is the inverse of decodeTrailer for well-formed trailers.
func (l *layout) encodeTrailer(t Trailer) []byte {
	b := bytes.Repeat([]byte{l.erased}, l.infoSize())
	size := uint32(len(b))
	if t.Magic == MagicGood {
		copy(b[size-uint32(l.magicAreaSize()):], l.magicBytes())
	}
	if t.ImageOK == FlagSet {
		b[l.imageOKOff(size)] = flagSet
	}
	if t.CopyDone == FlagSet {
		b[l.copyDoneOff(size)] = flagSet
	}
	if t.SwapType != SwapNone && t.SwapType != 0 {
		b[l.swapInfoOff(size)] = byte(t.SwapType)&0x0f | t.ImageNum<<4
	}
	if t.SwapSize != 0 {
		binary.LittleEndian.PutUint32(b[l.swapSizeOff(size):], t.SwapSize)
	}
	return b
}

// UnmarshalText parses the names MarshalText writes.
func (m *Magic) UnmarshalText(b []byte) error {
	for v := MagicUnset; v <= MagicBad; v++ {
		if v.String() == string(b) {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("boot: magic %q: want unset, good or bad", b)
}

// UnmarshalText parses the names MarshalText writes.
func (f *Flag) UnmarshalText(b []byte) error {
	for v := FlagUnset; v <= FlagBad; v++ {
		if v.String() == string(b) {
			*f = v
			return nil
		}
	}
	return fmt.Errorf("boot: flag %q: want unset, set or bad", b)
}

// UnmarshalText parses the names MarshalText writes.
func (t *SwapType) UnmarshalText(b []byte) error {
	for _, v := range []SwapType{SwapNone, SwapTest, SwapPerm, SwapRevert, SwapFail, SwapPanic} {
		if v.String() == string(b) {
			*t = v
			return nil
		}
	}
	return fmt.Errorf("boot: swap type %q is not one of none, test, permanent, revert, fail, panic", b)
}
