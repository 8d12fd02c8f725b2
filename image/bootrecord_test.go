package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/swcomponent"
)

// TestBootRecordVector reads the BOOT_RECORD of an imgtool image, rebuilds
// it byte for byte, and checks the shared vectors in swcomponent/testdata:
// imgtool's TLV, and the boot record a bootloader reports for the image.
func TestBootRecordVector(t *testing.T) {
	data := readVec(t, "ed25519.prot.bin")
	img, v, err := Verify(data)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := img.BootRecord()
	if !ok {
		t.Fatal("no boot record")
	}
	if want := readSwcVec(t, "imgtool-ed25519.prot.cbor"); !bytes.Equal(raw, want) {
		t.Fatalf("swcomponent/testdata/imgtool-ed25519.prot.cbor is not this image's BOOT_RECORD:\n%x\n%x", want, raw)
	}
	r, err := parseBootRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	kh := readVec(t, "ed25519.pubhash.bin")
	if r.MeasurementType != "SPE" || r.Version != "1.2.3" || !bytes.Equal(r.SignerID, kh) || r.MeasurementDescription != "SHA256" || !bytes.Equal(r.MeasurementValue, make([]byte, 32)) {
		t.Fatalf("%+v", r)
	}
	again, _ := buildBootRecord("SPE", img.Header.Ver, kh, SHA256)
	if !bytes.Equal(again, raw) {
		t.Fatal("buildBootRecord differs from imgtool's record")
	}
	m, err := img.Measurement(v.Hash, v.Digest, kh)
	want := swcomponent.Component{MeasurementType: "SPE", MeasurementValue: v.Digest, Version: "1.2.3", SignerID: kh, MeasurementDescription: "SHA256"}
	if err != nil || !m.Equal(&want) {
		t.Fatalf("measurement %v %+v", err, m)
	}
	if enc := m.Append(nil, swcomponent.Deterministic); !bytes.Equal(enc, readSwcVec(t, "boot-ed25519.prot.cbor")) {
		t.Fatalf("swcomponent/testdata/boot-ed25519.prot.cbor is not this image's measurement: %x", enc)
	}
	// What MCUboot saves for attestation is the same measurement.
	saved, err := swcomponent.Measured(raw, v.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := swcomponent.Parse(saved, swcomponent.KnownKeys); err != nil || !s.Equal(&m) {
		t.Fatalf("saved record %v %+v", err, s)
	}
	for i := range raw {
		if _, err := parseBootRecord(raw[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
}

// TestMeasurement: without a BOOT_RECORD the type is empty; a malformed one
// is ErrMalformed, and the rest of the measurement is still there.
func TestMeasurement(t *testing.T) {
	_, priv := smallSigned(t)
	res, err := Sign([]byte("fw"), &SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, Version: Version{2, 1, 3, 9}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Parse(res.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sid := bytes.Repeat([]byte{7}, 32)
	m, err := img.Measurement(SHA256, res.Digest, sid)
	if err != nil || m.MeasurementType != "" || m.Version != "2.1.3" || !bytes.Equal(m.MeasurementValue, res.Digest) || !bytes.Equal(m.SignerID, sid) || m.MeasurementDescription != "SHA256" {
		t.Fatalf("%v %+v", err, m)
	}
	sid[0] = 8
	if m.SignerID[0] != 7 {
		t.Fatal("the measurement aliases the caller's signer ID")
	}
	withRecord, _ := smallSigned(t)
	img, err = Parse(withRecord)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := img.Measurement(SHA256, res.Digest, sid); err != nil || m.MeasurementType != "NSPE" {
		t.Fatalf("%v %+v", err, m)
	}
	for name, bad := range map[string][]byte{
		"unknown key":       {0xa1, 0x09, 0x40},
		"sw_type not UTF-8": {0xa1, 0x01, 0x62, 0xc3, 0x28},
		"indefinite map":    {0xbf, 0x01, 0x61, 0x41, 0xff},
		"trailing byte":     {0xa1, 0x01, 0x61, 0x41, 0x00},
		"sw_type as bytes":  {0xa1, 0x01, 0x41, 0x41},
		"duplicate, long 1": {0xa2, 0x01, 0x61, 0x41, 0x18, 0x01, 0x61, 0x42},
		"six entries":       {0xa6, 0x01, 0x60, 0x01, 0x60, 0x01, 0x60, 0x01, 0x60, 0x01, 0x60, 0x01, 0x60},
		"version 300 bytes": append([]byte{0xa1, 0x04, 0x79, 0x01, 0x2c}, bytes.Repeat([]byte{'1'}, 300)...),
		"empty":             {},
	} {
		for i := range img.Protected.TLVs {
			if img.Protected.TLVs[i].Type == TLVBootRecord {
				img.Protected.TLVs[i].Value = bad
			}
		}
		m, err = img.Measurement(SHA256, res.Digest, sid)
		var fe *FieldError
		if !errors.Is(err, ErrMalformed) || !errors.As(err, &fe) || fe.Field != fieldBootRecord || m.MeasurementType != "" || m.Version != "1.0.0" {
			t.Fatalf("%s: %v %+v", name, err, m)
		}
	}
}

func readSwcVec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "swcomponent", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTrailerLayouts(t *testing.T) {
	_, priv := smallSigned(t)
	for _, c := range []struct {
		align, maxAlign int
		overwrite       bool
		confirm         bool
	}{{1, 0, false, true}, {4, 16, false, true}, {32, 32, false, false}, {8, 0, true, true}} {
		res, err := Sign([]byte("fw"), &SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, SlotSize: 0x4000,
			Align: c.align, MaxAlign: c.maxAlign, Overwrite: c.overwrite, Confirm: c.confirm, Pad: true})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := ParseTrailer(res.Bytes)
		if err != nil || !tr.MagicValid {
			t.Fatalf("%+v: %v %+v", c, err, tr)
		}
		want := max(8, c.align, c.maxAlign)
		if tr.MaxAlign != want {
			t.Errorf("%+v: max-align %d, want %d", c, tr.MaxAlign, want)
		}
		ok := byte(0xff)
		if c.confirm && !c.overwrite {
			ok = BootFlagSet
		}
		if tr.ImageOK != ok || tr.CopyDone != 0xff || tr.SwapInfo != 0xff || tr.SwapSize != 0xffffffff {
			t.Errorf("%+v: %+v", c, tr)
		}
		if len(res.Bytes) != 0x4000 {
			t.Errorf("%+v: padded to %d", c, len(res.Bytes))
		}
	}
	if tr, _ := ParseTrailer(bytes.Repeat([]byte{0xff}, 64)); tr.MagicValid {
		t.Error("erased slot has a valid magic")
	}
}
