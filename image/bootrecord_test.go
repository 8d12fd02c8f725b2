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
