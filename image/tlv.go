package image

import (
	"encoding/binary"
	"fmt"
)

// TLV area constants (bootutil/image.h).
const (
	TLVInfoMagic     uint16 = 0x6907 // IMAGE_TLV_INFO_MAGIC: unprotected area
	TLVProtInfoMagic uint16 = 0x6908 // IMAGE_TLV_PROT_INFO_MAGIC: protected area
	tlvInfoSize             = 4      // struct image_tlv_info {u16 it_magic; u16 it_tlv_tot}
	tlvHeaderSize           = 4      // struct image_tlv {u16 it_type; u16 it_len}
)

// TLV types (IMAGE_TLV_*).
const (
	TLVKeyHash         uint16 = 0x01 // hash of the signing public key
	TLVPubKey          uint16 = 0x02 // the signing public key itself
	TLVSHA256          uint16 = 0x10
	TLVSHA384          uint16 = 0x11
	TLVSHA512          uint16 = 0x12
	TLVRSA2048PSS      uint16 = 0x20
	TLVECDSA224        uint16 = 0x21 // obsolete, never accepted
	TLVECDSASig        uint16 = 0x22 // DER ECDSA signature, P-256 or P-384
	TLVRSA3072PSS      uint16 = 0x23
	TLVED25519         uint16 = 0x24
	TLVSigPure         uint16 = 0x25 // signature is over the image, not its hash
	TLVEncRSA2048      uint16 = 0x30
	TLVEncKW           uint16 = 0x31
	TLVEncEC256        uint16 = 0x32
	TLVEncX25519       uint16 = 0x33
	TLVEncX25519SHA512 uint16 = 0x34
	TLVDependency      uint16 = 0x40
	TLVSecCnt          uint16 = 0x50
	TLVBootRecord      uint16 = 0x60
	TLVDecompSize      uint16 = 0x70
	TLVDecompSHA       uint16 = 0x71
	TLVDecompSignature uint16 = 0x72
	TLVCompDecSize     uint16 = 0x73
	TLVUUIDVID         uint16 = 0x74
	TLVUUIDCID         uint16 = 0x75

	TLVVendorMin uint16 = 0x00a0 // first type free for --custom-tlv
	TLVVendorMax uint16 = 0xfffe // last type free for --custom-tlv
)

// tlvNames are imgtool's names (TLV_VALUES), used by dump output.
var tlvNames = map[uint16]string{
	TLVKeyHash: "KEYHASH", TLVPubKey: "PUBKEY", TLVSHA256: "SHA256", TLVSHA384: "SHA384",
	TLVSHA512: "SHA512", TLVRSA2048PSS: "RSA2048", TLVECDSASig: "ECDSASIG", TLVRSA3072PSS: "RSA3072",
	TLVED25519: "ED25519", TLVSigPure: "SIG_PURE", TLVEncRSA2048: "ENCRSA2048", TLVEncKW: "ENCKW",
	TLVEncEC256: "ENCEC256", TLVEncX25519: "ENCX25519", TLVEncX25519SHA512: "ENCX25519_SHA512",
	TLVDependency: "DEPENDENCY", TLVSecCnt: "SEC_CNT", TLVBootRecord: "BOOT_RECORD",
	TLVDecompSize: "DECOMP_SIZE", TLVDecompSHA: "DECOMP_SHA", TLVDecompSignature: "DECOMP_SIGNATURE",
	TLVCompDecSize: "COMP_DEC_SIZE", TLVUUIDVID: "UUID_VID", TLVUUIDCID: "UUID_CID",
}

// TLVName returns imgtool's name for a TLV type, or "UNKNOWN".
func TLVName(t uint16) string {
	if n, ok := tlvNames[t]; ok {
		return n
	}
	return "UNKNOWN"
}

// IsPredefinedTLV reports whether t is a type imgtool defines (and so cannot
// be used by --custom-tlv).
func IsPredefinedTLV(t uint16) bool { _, ok := tlvNames[t]; return ok }

// TLV is one entry of a TLV area.
type TLV struct {
	Type  uint16
	Value []byte
	// Offset is the offset of the entry's 4-byte header in the image; Parse
	// sets it, Sign ignores it.
	Offset int
}

func (t TLV) String() string {
	return fmt.Sprintf("TLV 0x%02x (%s) len %d", t.Type, TLVName(t.Type), len(t.Value))
}

func (t TLV) field() string { return fmt.Sprintf("TLV 0x%02x (%s)", t.Type, TLVName(t.Type)) }

// TLVArea is a protected or unprotected TLV area.
type TLVArea struct {
	Magic  uint16 // it_magic
	TLVTot uint16 // it_tlv_tot: area size including this 4-byte info header
	Offset int    // offset of the info header in the image
	TLVs   []TLV
}

// Find returns the entries of type t in order.
func (a *TLVArea) Find(t uint16) []TLV {
	if a == nil {
		return nil
	}
	var out []TLV
	for _, e := range a.TLVs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// End is the offset just past the area.
func (a *TLVArea) End() int { return a.Offset + int(a.TLVTot) }

// parseTLVArea reads the area whose info header starts at off; name is used
// in errors ("protected TLV area" or "TLV area").
func parseTLVArea(b []byte, off int, wantMagic uint16, name string) (*TLVArea, error) {
	if off+tlvInfoSize > len(b) {
		return nil, fieldErr(name+" it_magic", off, ErrTruncated, "info header needs %d bytes, %d left", tlvInfoSize, max(0, len(b)-off))
	}
	a := &TLVArea{
		Magic:  binary.LittleEndian.Uint16(b[off:]),
		TLVTot: binary.LittleEndian.Uint16(b[off+2:]),
		Offset: off,
	}
	if a.Magic != wantMagic {
		return nil, fieldErr(name+" it_magic", off, ErrBadMagic, "0x%04x, want 0x%04x", a.Magic, wantMagic)
	}
	if a.TLVTot < tlvInfoSize {
		return nil, fieldErr(name+" it_tlv_tot", off+2, ErrMalformed, "%d is below the info header size %d", a.TLVTot, tlvInfoSize)
	}
	end := off + int(a.TLVTot)
	if end > len(b) {
		return nil, fieldErr(name+" it_tlv_tot", off+2, ErrTruncated, "area of %d bytes runs past the end of the image (%d bytes left)", a.TLVTot, len(b)-off)
	}
	p := off + tlvInfoSize
	for p < end {
		if p+tlvHeaderSize > end {
			return nil, fieldErr(name, p, ErrMalformed, "%d stray bytes at the end of the area, too short for a TLV header", end-p)
		}
		t := binary.LittleEndian.Uint16(b[p:])
		l := int(binary.LittleEndian.Uint16(b[p+2:]))
		e := TLV{Type: t, Offset: p}
		if p+tlvHeaderSize+l > end {
			return nil, fieldErr(e.field()+" it_len", p+2, ErrMalformed, "length %d runs past the end of the %s", l, name)
		}
		e.Value = b[p+tlvHeaderSize : p+tlvHeaderSize+l : p+tlvHeaderSize+l]
		a.TLVs = append(a.TLVs, e)
		p += tlvHeaderSize + l
	}
	return a, nil
}

// appendTLVArea encodes an area (nothing at all when tlvs is empty and
// protected, as imgtool omits an empty protected area).
func appendTLVArea(b []byte, magic uint16, tlvs []TLV) ([]byte, error) {
	size := tlvAreaSize(tlvs)
	if size > 0xffff {
		return nil, argErr("TLV area", "%d bytes do not fit it_tlv_tot (max 65535)", size)
	}
	le := binary.LittleEndian
	b = le.AppendUint16(b, magic)
	b = le.AppendUint16(b, uint16(size))
	for _, t := range tlvs {
		b = le.AppendUint16(b, t.Type)
		b = le.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

func tlvAreaSize(tlvs []TLV) int {
	n := tlvInfoSize
	for _, t := range tlvs {
		n += tlvHeaderSize + len(t.Value)
	}
	return n
}
