package image

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripVectors(t *testing.T) {
	for _, v := range vectorImages(t) {
		b := readVec(t, v.file)
		img, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		out, err := img.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: MarshalBinary differs at %d", v.file, firstDiff(out, b))
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{Magic: ImageMagic, LoadAddr: 0x20000000, HdrSize: 0x400, ProtectTLVSize: 12, ImgSize: 0x1234,
		Flags: FlagRAMLoad | FlagNonBootable, Ver: Version{1, 2, 0xbeef, 0xdeadbeef}, Pad1: 7}
	b, _ := h.MarshalBinary()
	got, err := ParseHeader(b)
	if err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// smallSigned is a small Ed25519-signed image with protected TLVs, for the
// byte-flip and truncation tests.
func smallSigned(t testing.TB) ([]byte, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	sc := uint32(5)
	res, err := Sign(bytes.Repeat([]byte{0xa5, 0x5a, 0x00, 0x01}, 16), &SignOptions{
		Key: priv, HeaderSize: 32, PadHeader: true, Version: Version{1, 0, 0, 1}, SlotSize: 0x400,
		SecurityCounter: &sc, Dependencies: []Dependency{{1, Version{2, 0, 0, 0}}}, BootRecord: "NSPE",
		CustomTLVs: []TLV{{Type: 0xa1, Value: []byte("x")}}, Pad: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes, priv
}

func TestEveryPrefixRejected(t *testing.T) {
	b, _ := smallSigned(t)
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	end := img.Size()
	for i := 0; i < end; i++ {
		if _, err := Parse(b[:i]); err == nil {
			t.Fatalf("prefix of %d bytes (image is %d) accepted", i, end)
		} else if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: unexpected error class: %v", i, err)
		}
	}
}

// TestFlipEveryByte flips each byte of the hashed region and of every TLV
// and expects verification to fail; docs/image-format.md names the bytes it
// does not cover: everything after the unprotected TLV area.
func TestFlipEveryByte(t *testing.T) {
	b, priv := smallSigned(t)
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	opts := VerifyOptions{Keys: []any{priv.Public()}}
	if _, err := img.Verify(opts); err != nil {
		t.Fatal(err)
	}
	mut := make([]byte, len(b))
	for i := 0; i < len(b); i++ {
		if i >= img.Size()+32 && i < len(b)-48 {
			continue // the middle of the slot padding: same rule as its ends
		}
		for _, x := range []byte{0x01, 0x80, 0xff} {
			copy(mut, b)
			mut[i] ^= x
			im, err := Parse(mut)
			if err == nil {
				_, err = im.Verify(opts)
			}
			covered := i < img.Size()
			if covered && err == nil {
				t.Fatalf("flipping byte 0x%x (^0x%02x) of %d still verifies", i, x, img.Size())
			}
			if !covered && err != nil {
				t.Fatalf("byte 0x%x is after the TLV area but flipping it fails: %v", i, err)
			}
			if err != nil && !IsVerificationFailure(err) {
				t.Fatalf("byte 0x%x: error is not a verification failure: %v", i, err)
			}
		}
	}
}

func le16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

func TestBadInputNamesField(t *testing.T) {
	good, priv := smallSigned(t)
	img, _ := Parse(good)
	size := img.Size()
	prot := img.Protected.Offset
	unprot := img.Unprotected.Offset
	hashOff := img.Unprotected.TLVs[0].Offset
	cases := []struct {
		name, field string
		sentinel    error
		mutate      func(b []byte) []byte
	}{
		{"truncated header", "image header", ErrTruncated, func(b []byte) []byte { return b[:20] }},
		{"wrong magic", "ih_magic", ErrBadMagic, func(b []byte) []byte { b[0] ^= 0x10; return b }},
		{"legacy magic", "ih_magic", ErrBadMagic, func(b []byte) []byte { b[0] = 0x3c; return b }},
		{"header size < 32", "ih_hdr_size", ErrMalformed, func(b []byte) []byte { le16(b, 8, 31); return b }},
		{"img size past end", "ih_img_size", ErrTruncated, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0xffffff); return b }},
		{"protected size mismatch", "ih_protect_tlv_size", ErrMalformed, func(b []byte) []byte { le16(b, 10, img.Header.ProtectTLVSize+4); return b }},
		{"protected size zero but area present", "ih_protect_tlv_size", ErrMalformed, func(b []byte) []byte { le16(b, 10, 0); return b }},
		{"protected TLV past area", "it_len", ErrMalformed, func(b []byte) []byte { le16(b, prot+4+2, 200); return b }},
		{"TLV past area", "it_len", ErrMalformed, func(b []byte) []byte { le16(b, hashOff+2, 0x400); return b }},
		{"unprotected magic", "TLV area it_magic", ErrBadMagic, func(b []byte) []byte { b[unprot] ^= 0xff; return b }},
		{"area past end", "it_tlv_tot", ErrTruncated, func(b []byte) []byte { b = b[:size]; le16(b, unprot+2, 0xfff0); return b }},
		{"missing hash", "TLV area", ErrMissingHash, func(b []byte) []byte { le16(b, hashOff, 0x99); return b }},
		{"duplicated hash", "SHA256", ErrDuplicateHash, func(b []byte) []byte {
			// turn the KEYHASH (32 bytes, like the hash) into a second SHA256
			le16(b, hashOff+4+32, TLVSHA256)
			return b
		}},
		{"hash mismatch", "SHA256", ErrHashMismatch, func(b []byte) []byte { b[40] ^= 1; return b }},
		{"key hash shorter than the hash", "KEYHASH", ErrMalformed, func(b []byte) []byte {
			return rebuildUnprot(t, b, func(tl []TLV) []TLV { tl[1].Value = tl[1].Value[:4]; return tl })
		}},
		{"security counter outside the protected area", "SEC_CNT", ErrMalformed, func(b []byte) []byte {
			return rebuildUnprot(t, b, func(tl []TLV) []TLV { return append(tl, TLV{Type: TLVSecCnt, Value: []byte{9, 0, 0, 0}}) })
		}},
		{"wrong key", "TLV area", ErrKeyNotFound, func(b []byte) []byte { return b }},
		{"unsupported signature algorithm", "ECDSA224", ErrUnsupported, func(b []byte) []byte {
			return rebuildUnprot(t, b, func(tl []TLV) []TLV { tl[2].Type = TLVECDSA224; return tl })
		}},
		{"signature of another algorithm", "ECDSASIG", ErrBadSignature, func(b []byte) []byte {
			return rebuildUnprot(t, b, func(tl []TLV) []TLV { tl[2].Type = TLVECDSASig; return tl })
		}},
		{"unknown hash algorithm", "TLV area", ErrMissingHash, func(b []byte) []byte {
			return rebuildUnprot(t, b, func(tl []TLV) []TLV { tl[0].Type = 0x13; return tl })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(append([]byte(nil), good...))
			keys := []any{priv.Public()}
			if c.name == "wrong key" {
				_, other, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
				keys = []any{other.Public()}
			}
			im, err := Parse(b)
			if err == nil {
				_, err = im.Verify(VerifyOptions{Keys: keys})
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, c.sentinel) {
				t.Errorf("error %q does not wrap %v", err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.HasPrefix(err.Error(), "image: ") {
				t.Errorf("error %q does not name %q", err, c.field)
			}
		})
	}
}

// rebuildUnprot re-encodes the unprotected area after edit (the hashed
// region is untouched, so only the edited rule can fail).
func rebuildUnprot(t *testing.T, b []byte, edit func([]TLV) []TLV) []byte {
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	tl := append([]TLV(nil), img.Unprotected.TLVs...)
	for i := range tl {
		tl[i].Value = append([]byte(nil), tl[i].Value...)
	}
	out := append([]byte(nil), b[:img.Unprotected.Offset]...)
	out, err = appendTLVArea(out, TLVInfoMagic, edit(tl))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignRejectsBadOptions(t *testing.T) {
	_, priv := smallSigned(t)
	in := make([]byte, 100)
	base := func() *SignOptions {
		return &SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, SlotSize: 0x1000}
	}
	cases := map[string]struct {
		field string
		mod   func(o *SignOptions)
	}{
		"header size":       {"header-size", func(o *SignOptions) { o.HeaderSize = 16 }},
		"image > slot":      {"slot-size", func(o *SignOptions) { o.SlotSize = 200 }},
		"align":             {"align", func(o *SignOptions) { o.Align = 3 }},
		"max-align":         {"max-align", func(o *SignOptions) { o.MaxAlign = 4 }},
		"both addresses":    {"load-addr", func(o *SignOptions) { o.LoadAddr, o.ROMFixed = 1, 2 }},
		"predefined custom": {"custom-tlv", func(o *SignOptions) { o.CustomTLVs = []TLV{{Type: 0x50}} }},
		"low custom":        {"custom-tlv", func(o *SignOptions) { o.CustomTLVs = []TLV{{Type: 0x9f}} }},
		"sha384 ed25519":    {"sha", func(o *SignOptions) { o.HashBits = 384 }},
		"pure with sha":     {"sha", func(o *SignOptions) { o.Pure, o.HashBits = true, 512 }},
		"long sw_type":      {"boot-record", func(o *SignOptions) { o.BootRecord = "ABCDEFGHIJKLM" }},
		"no header padding": {"pad-header", func(o *SignOptions) { o.PadHeader = false; in[0] = 1 }},
		"cid name, no vid":  {"cid", func(o *SignOptions) { o.CID = "my-image-class" }},
		"erased value":      {"erased-val", func(o *SignOptions) { e := byte(0x5a); o.ErasedVal = &e }},
		"fixed sig, no key": {"--fix-sig needs --fix-sig-pubkey", func(o *SignOptions) { o.Key, o.FixedSignature = nil, []byte{1} }},
	}
	for name, c := range cases {
		o := base()
		c.mod(o)
		_, err := Sign(in, o)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, c.field)
		}
		// Validate finds the same problem without the firmware, except
		// those that depend on it.
		if verr := o.Validate(); name != "image > slot" && name != "no header padding" && (verr == nil || verr.Error() != err.Error()) {
			t.Errorf("%s: Validate says %v, Sign %v", name, verr, err)
		}
		in[0] = 0
	}
}

func FuzzParse(f *testing.F) {
	// Seeds: every vector with its 64 KiB body cut to 64 bytes (ih_img_size
	// patched, so the header, TLV areas and trailer stay real; the fuzzer
	// crawls on large inputs), plus a small, validly signed image.
	m, _ := filepath.Glob(filepath.Join(vecDir, "*.bin"))
	e, _ := filepath.Glob(filepath.Join(vecDir, "enc", "*.bin"))
	for _, p := range append(m, e...) {
		if strings.HasSuffix(p, "input.bin") || strings.HasSuffix(p, "pubhash.bin") {
			continue
		}
		b := readVec(f, strings.TrimPrefix(p, vecDir+"/"))
		img, err := Parse(b)
		if err != nil {
			f.Fatal(err)
		}
		const keep = 64
		start := int(img.Header.HdrSize)
		var small []byte
		small = append(small, b[:start+keep]...)
		small = append(small, b[start+int(img.Header.ImgSize):min(len(b), img.Size()+64)]...)
		binary.LittleEndian.PutUint32(small[12:], keep)
		f.Add(small)
	}
	good, _ := smallSigned(f)
	f.Add(good)
	keyAny := keyVec(f, "ed25519.pem")
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Parse(b)
		if err != nil {
			return
		}
		out, err := img.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip: %v", err)
		}
		_, _ = img.Verify(VerifyOptions{Keys: []any{keyAny}})
		_, _, _ = img.SecurityCounter()
		_, _ = img.Dependencies()
		_, _ = ParseTrailer(b)
		if d, err := NewDumpInfo("fuzz.bin", b); err == nil {
			for _, f := range []DumpFormat{DumpText, DumpYAML, DumpJSON} {
				if err := d.Write(io.Discard, f); err != nil {
					t.Fatalf("dumpinfo %d: %v", f, err)
				}
			}
		}
	})
}

// TestUncoveredBytes pins down what docs/image-format.md §7 says is not
// covered: unknown unprotected TLVs and entries after the signature that
// verified can be added or changed without failing verification.
func TestUncoveredBytes(t *testing.T) {
	b, priv := smallSigned(t)
	opts := VerifyOptions{Keys: []any{priv.Public()}}
	for name, edit := range map[string]func([]TLV) []TLV{
		"unknown TLV appended": func(tl []TLV) []TLV { return append(tl, TLV{Type: 0xa5, Value: []byte("unsigned")}) },
		"unknown TLV first":    func(tl []TLV) []TLV { return append([]TLV{{Type: 0x7777, Value: []byte{1}}}, tl...) },
		"second signature after the valid one": func(tl []TLV) []TLV {
			return append(tl, tl[1], TLV{Type: TLVED25519, Value: make([]byte, 64)})
		},
	} {
		img, err := Parse(rebuildUnprot(t, b, edit))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := img.Verify(opts); err != nil {
			t.Errorf("%s: expected to stay valid (uncovered), got %v", name, err)
		}
	}
}
