package image

import (
	"bytes"
	"errors"
	"testing"
)

func TestBootRecordVector(t *testing.T) {
	img, err := Parse(readVec(t, "ed25519.prot.bin"))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := img.BootRecord()
	if !ok {
		t.Fatal("no boot record")
	}
	r, err := ParseBootRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	kh := readVec(t, "ed25519.pubhash.bin")
	if r.SwType != "SPE" || r.Version != "1.2.3" || !bytes.Equal(r.SignerID, kh) || r.MeasurementDescription != "SHA256" || !bytes.Equal(r.MeasurementValue, make([]byte, 32)) {
		t.Fatalf("%+v", r)
	}
	again, _ := BuildBootRecord("SPE", img.Header.Ver, kh, SHA256)
	if !bytes.Equal(again, raw) {
		t.Fatal("BuildBootRecord differs from imgtool's record")
	}
	d := bytes.Repeat([]byte{0xab}, 32)
	m, err := MeasuredBootRecord(raw, d)
	if err != nil {
		t.Fatal(err)
	}
	if r2, err := ParseBootRecord(m); err != nil || !bytes.Equal(r2.MeasurementValue, d) || r2.SwType != "SPE" {
		t.Fatalf("measured: %v %+v", err, r2)
	}
	for i := range raw {
		if _, err := ParseBootRecord(raw[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	if _, err := MeasuredBootRecord(raw, d[:20]); err == nil {
		t.Fatal("short digest accepted")
	}
}

func FuzzParseBootRecord(f *testing.F) {
	img, _ := Parse(readVec(f, "ed25519.prot.bin"))
	raw, _ := img.BootRecord()
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseBootRecord(b)
		if err != nil {
			return
		}
		if r.MeasurementValue != nil {
			MeasuredBootRecord(b, make([]byte, len(r.MeasurementValue)))
		}
	})
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
