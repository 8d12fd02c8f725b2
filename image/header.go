package image

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Header constants (bootutil/image.h).
const (
	ImageMagic   uint32 = 0x96f3b83d // IMAGE_MAGIC
	ImageMagicV1 uint32 = 0x96f3b83c // IMAGE_MAGIC_V1, legacy; not accepted
	HeaderSize          = 32         // IMAGE_HEADER_SIZE: the fixed part of ih_hdr_size
)

// Flags is ih_flags.
type Flags uint32

// Header flags (IMAGE_F_*).
const (
	FlagPIC                Flags = 0x00000001
	FlagEncryptedAES128    Flags = 0x00000004
	FlagEncryptedAES256    Flags = 0x00000008
	FlagNonBootable        Flags = 0x00000010
	FlagRAMLoad            Flags = 0x00000020
	FlagROMFixed           Flags = 0x00000100
	FlagCompressedLZMA1    Flags = 0x00000200
	FlagCompressedLZMA2    Flags = 0x00000400
	FlagCompressedARMThumb Flags = 0x00000800
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagPIC, "PIC"}, {FlagEncryptedAES128, "ENCRYPTED_AES128"}, {FlagEncryptedAES256, "ENCRYPTED_AES256"},
	{FlagNonBootable, "NON_BOOTABLE"}, {FlagRAMLoad, "RAM_LOAD"}, {FlagROMFixed, "ROM_FIXED"},
	{FlagCompressedLZMA1, "COMPRESSED_LZMA1"}, {FlagCompressedLZMA2, "COMPRESSED_LZMA2"},
	{FlagCompressedARMThumb, "COMPRESSED_ARM_THUMB"},
}

// Names lists the names of the set flags in imgtool's order (unknown bits as hex).
func (f Flags) Names() []string {
	var out []string
	rest := f
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
			rest &^= n.f
		}
	}
	if rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", uint32(rest)))
	}
	return out
}

// Encrypted reports whether either AES flag is set.
func (f Flags) Encrypted() bool { return f&(FlagEncryptedAES128|FlagEncryptedAES256) != 0 }

// Version is ih_ver (struct image_version).
type Version struct {
	Major    uint8
	Minor    uint8
	Revision uint16
	Build    uint32
}

// String formats v as imgtool does: "major.minor.revision+build".
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d+%d", v.Major, v.Minor, v.Revision, v.Build)
}

// Compare orders versions as MCUboot does: major, minor, revision, and the
// build number only when withBuild (MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER).
func (v Version) Compare(w Version, withBuild bool) int {
	a := [4]uint64{uint64(v.Major), uint64(v.Minor), uint64(v.Revision), uint64(v.Build)}
	b := [4]uint64{uint64(w.Major), uint64(w.Minor), uint64(w.Revision), uint64(w.Build)}
	n := 3
	if withBuild {
		n = 4
	}
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// SecurityCounter is imgtool's "--security-counter auto" value for v:
// major<<24 | minor<<16 | revision.
func (v Version) SecurityCounter() uint32 {
	return uint32(v.Major)<<24 | uint32(v.Minor)<<16 | uint32(v.Revision)
}

// ParseVersion parses "major[.minor[.revision[+build]]]" in decimal without
// leading zeros, as imgtool's decode_version does.
func ParseVersion(s string) (Version, error) {
	var v Version
	bad := func(why string) (Version, error) {
		return Version{}, argErr("version", "%q: %s (want maj.min.rev+build, later parts optional)", s, why)
	}
	main, build, hasBuild := strings.Cut(s, "+")
	parts := strings.Split(main, ".")
	if len(parts) > 3 || (hasBuild && len(parts) != 3) {
		return bad("wrong number of parts")
	}
	num := func(p string, bits int) (uint64, bool) {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return 0, false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseUint(p, 10, bits)
		return n, err == nil
	}
	widths := []int{8, 8, 16}
	for i, p := range parts {
		n, ok := num(p, widths[i])
		if !ok {
			return bad(fmt.Sprintf("part %d (%q) is not a decimal of at most %d bits", i+1, p, widths[i]))
		}
		switch i {
		case 0:
			v.Major = uint8(n)
		case 1:
			v.Minor = uint8(n)
		case 2:
			v.Revision = uint16(n)
		}
	}
	if hasBuild {
		n, ok := num(build, 32)
		if !ok {
			return bad(fmt.Sprintf("build %q is not a 32-bit decimal", build))
		}
		v.Build = uint32(n)
	}
	return v, nil
}

// Header is struct image_header, the first 32 bytes of an image.
type Header struct {
	Magic          uint32  // ih_magic
	LoadAddr       uint32  // ih_load_addr
	HdrSize        uint16  // ih_hdr_size: header plus padding before the body
	ProtectTLVSize uint16  // ih_protect_tlv_size: whole protected area incl. its info header, or 0
	ImgSize        uint32  // ih_img_size: body only
	Flags          Flags   // ih_flags
	Ver            Version // ih_ver
	Pad1           uint32  // _pad1
}

// ParseHeader decodes and checks the 32-byte header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fieldErr("image header", 0, ErrTruncated, "%d bytes, need %d", len(b), HeaderSize)
	}
	le := binary.LittleEndian
	h := Header{
		Magic:          le.Uint32(b[0:]),
		LoadAddr:       le.Uint32(b[4:]),
		HdrSize:        le.Uint16(b[8:]),
		ProtectTLVSize: le.Uint16(b[10:]),
		ImgSize:        le.Uint32(b[12:]),
		Flags:          Flags(le.Uint32(b[16:])),
		Ver: Version{
			Major: b[20], Minor: b[21],
			Revision: le.Uint16(b[22:]),
			Build:    le.Uint32(b[24:]),
		},
		Pad1: le.Uint32(b[28:]),
	}
	switch h.Magic {
	case ImageMagic:
	case ImageMagicV1:
		return h, fieldErr("ih_magic", 0, ErrBadMagic, "legacy v1 magic 0x%08x is not supported", h.Magic)
	default:
		return h, fieldErr("ih_magic", 0, ErrBadMagic, "0x%08x, want 0x%08x", h.Magic, ImageMagic)
	}
	if h.HdrSize < HeaderSize {
		return h, fieldErr("ih_hdr_size", 8, ErrMalformed, "%d is below the minimum %d", h.HdrSize, HeaderSize)
	}
	if h.ProtectTLVSize != 0 && h.ProtectTLVSize < tlvInfoSize {
		return h, fieldErr("ih_protect_tlv_size", 10, ErrMalformed, "%d is below the TLV info size %d", h.ProtectTLVSize, tlvInfoSize)
	}
	return h, nil
}

// AppendBinary appends the 32-byte encoding of h to b.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	b = le.AppendUint32(b, h.Magic)
	b = le.AppendUint32(b, h.LoadAddr)
	b = le.AppendUint16(b, h.HdrSize)
	b = le.AppendUint16(b, h.ProtectTLVSize)
	b = le.AppendUint32(b, h.ImgSize)
	b = le.AppendUint32(b, uint32(h.Flags))
	b = append(b, h.Ver.Major, h.Ver.Minor)
	b = le.AppendUint16(b, h.Ver.Revision)
	b = le.AppendUint32(b, h.Ver.Build)
	b = le.AppendUint32(b, h.Pad1)
	return b, nil
}

// MarshalBinary returns the 32-byte encoding of h.
func (h Header) MarshalBinary() ([]byte, error) { return h.AppendBinary(make([]byte, 0, HeaderSize)) }
