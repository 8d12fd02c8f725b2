package image

import (
	"encoding/binary"
	"fmt"
)

// Image is a parsed MCUboot image. It refers to the bytes given to [Parse]
// (it does not copy them); do not modify them while the Image is in use.
type Image struct {
	Header Header
	// Protected is the protected TLV area, nil when ih_protect_tlv_size is 0.
	Protected *TLVArea
	// Unprotected is the (unprotected) TLV area that follows.
	Unprotected *TLVArea
	raw         []byte
}

// Parse decodes an image from b: header, body and both TLV areas. Bytes after
// the unprotected TLV area (padding and trailer of a padded image, or the rest
// of a flash slot) are allowed and returned by [Image.Tail]. Parse checks the
// structure only; [Image.Verify] checks the hash and signatures.
func Parse(b []byte) (*Image, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	img := &Image{Header: h, raw: b}
	bodyEnd := uint64(h.HdrSize) + uint64(h.ImgSize)
	if bodyEnd > uint64(len(b)) {
		return nil, fieldErr("ih_img_size", 12, ErrTruncated, "header (0x%x) + body (0x%x) = 0x%x bytes, file has 0x%x", h.HdrSize, h.ImgSize, bodyEnd, len(b))
	}
	off := int(bodyEnd)
	if h.ProtectTLVSize != 0 {
		a, err := parseTLVArea(b, off, TLVProtInfoMagic, "protected TLV area")
		if err != nil {
			return nil, err
		}
		if a.TLVTot != h.ProtectTLVSize {
			return nil, fieldErr("ih_protect_tlv_size", 10, ErrMalformed, "header says 0x%x, protected area it_tlv_tot is 0x%x", h.ProtectTLVSize, a.TLVTot)
		}
		img.Protected = a
		off = a.End()
	} else if off+2 <= len(b) && binary.LittleEndian.Uint16(b[off:]) == TLVProtInfoMagic {
		return nil, fieldErr("ih_protect_tlv_size", 10, ErrMalformed, "is 0 but a protected TLV area (magic 0x%04x) follows the body", TLVProtInfoMagic)
	}
	a, err := parseTLVArea(b, off, TLVInfoMagic, "TLV area")
	if err != nil {
		return nil, err
	}
	img.Unprotected = a
	return img, nil
}

// Bytes returns the bytes the image was parsed from.
func (img *Image) Bytes() []byte { return img.raw }

// HashedRegion returns the bytes covered by the image hash and signature:
// header, header padding, body and protected TLV area
// ([0, ih_hdr_size+ih_img_size+ih_protect_tlv_size)). For an encrypted image
// the body here is the ciphertext; see [Image.Verify].
func (img *Image) HashedRegion() []byte { return img.raw[:img.hashedEnd()] }

func (img *Image) hashedEnd() int {
	return int(img.Header.HdrSize) + int(img.Header.ImgSize) + int(img.Header.ProtectTLVSize)
}

// Body returns the firmware body (ih_img_size bytes after the header).
func (img *Image) Body() []byte {
	s := int(img.Header.HdrSize)
	return img.raw[s : s+int(img.Header.ImgSize)]
}

// Size is the length of the image proper: up to the end of the TLV area.
func (img *Image) Size() int { return img.Unprotected.End() }

// Tail returns the bytes after the TLV area: padding and trailer, if any.
func (img *Image) Tail() []byte { return img.raw[img.Size():] }

// TLVs returns the protected entries followed by the unprotected ones.
func (img *Image) TLVs() []TLV {
	var out []TLV
	if img.Protected != nil {
		out = append(out, img.Protected.TLVs...)
	}
	return append(out, img.Unprotected.TLVs...)
}

// SecurityCounter returns the SEC_CNT value from the protected area. It
// returns ok=false when there is none and an error when SEC_CNT is malformed,
// duplicated or (illegally) in the unprotected area. Only meaningful after
// [Image.Verify] succeeded.
func (img *Image) SecurityCounter() (v uint32, ok bool, err error) {
	if u := img.Unprotected.Find(TLVSecCnt); len(u) > 0 {
		return 0, false, fieldErr("TLV 0x50 (SEC_CNT)", u[0].Offset, ErrMalformed, "security counter outside the protected area")
	}
	p := img.Protected.Find(TLVSecCnt)
	switch {
	case len(p) == 0:
		return 0, false, nil
	case len(p) > 1:
		return 0, false, fieldErr("TLV 0x50 (SEC_CNT)", p[1].Offset, ErrMalformed, "duplicated")
	case len(p[0].Value) != 4:
		return 0, false, fieldErr("TLV 0x50 (SEC_CNT) it_len", p[0].Offset+2, ErrMalformed, "%d, want 4", len(p[0].Value))
	}
	return binary.LittleEndian.Uint32(p[0].Value), true, nil
}

// Dependency is the value of a DEPENDENCY TLV (struct image_dependency).
type Dependency struct {
	ImageID uint8
	Version Version
}

func (d Dependency) String() string { return fmt.Sprintf("(%d,%s)", d.ImageID, d.Version) }

func (d Dependency) marshal() []byte {
	b := []byte{d.ImageID, 0, 0, 0, d.Version.Major, d.Version.Minor}
	b = binary.LittleEndian.AppendUint16(b, d.Version.Revision)
	return binary.LittleEndian.AppendUint32(b, d.Version.Build)
}

// Dependencies returns the DEPENDENCY entries of the protected area.
func (img *Image) Dependencies() ([]Dependency, error) {
	if u := img.Unprotected.Find(TLVDependency); len(u) > 0 {
		return nil, fieldErr("TLV 0x40 (DEPENDENCY)", u[0].Offset, ErrMalformed, "dependency outside the protected area")
	}
	var out []Dependency
	for _, t := range img.Protected.Find(TLVDependency) {
		if len(t.Value) != 12 {
			return nil, fieldErr("TLV 0x40 (DEPENDENCY) it_len", t.Offset+2, ErrMalformed, "%d, want 12", len(t.Value))
		}
		v := t.Value
		out = append(out, Dependency{ImageID: v[0], Version: Version{
			Major: v[4], Minor: v[5], Revision: binary.LittleEndian.Uint16(v[6:]), Build: binary.LittleEndian.Uint32(v[8:]),
		}})
	}
	return out, nil
}

// BootRecord returns the raw CBOR of the protected BOOT_RECORD TLV, if any.
func (img *Image) BootRecord() ([]byte, bool) {
	p := img.Protected.Find(TLVBootRecord)
	if len(p) == 0 {
		return nil, false
	}
	return p[0].Value, true
}

// MarshalBinary re-encodes the image from its typed model: header, header
// padding, body, protected and unprotected TLV areas, then the tail. For a
// parsed image it returns exactly the parsed bytes.
func (img *Image) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, len(img.raw))
	out, _ = img.Header.AppendBinary(out)
	out = append(out, img.raw[HeaderSize:img.Header.HdrSize]...)
	out = append(out, img.Body()...)
	var err error
	if img.Protected != nil {
		if out, err = appendTLVArea(out, TLVProtInfoMagic, img.Protected.TLVs); err != nil {
			return nil, err
		}
	}
	if out, err = appendTLVArea(out, TLVInfoMagic, img.Unprotected.TLVs); err != nil {
		return nil, err
	}
	return append(out, img.Tail()...), nil
}
