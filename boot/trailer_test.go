package boot

import (
	"bytes"
	"encoding/json"
	"testing"

	"rampart/image"
)

func trailerLayout(ma int, erased byte) *layout {
	return &layout{maxAlign: ma, writeAlign: 1, erased: erased, strategy: OverwriteOnly}
}

func TestTrailerOffsetsMatchMCUboot(t *testing.T) {
	// From the slot end with BOOT_MAX_ALIGN 8: magic -16, image_ok -24,
	// copy_done -32, swap_info -40, swap_size -48.
	l := trailerLayout(8, 0xff)
	const size = 0x1000
	for name, got := range map[string]uint32{"magic": l.magicOff(size), "image_ok": l.imageOKOff(size), "copy_done": l.copyDoneOff(size), "swap_info": l.swapInfoOff(size), "swap_size": l.swapSizeOff(size)} {
		want := map[string]uint32{"magic": size - 16, "image_ok": size - 24, "copy_done": size - 32, "swap_info": size - 40, "swap_size": size - 48}[name]
		if got != want {
			t.Errorf("%s at %#x, want %#x", name, got, want)
		}
	}
	l32 := trailerLayout(32, 0xff)
	if got := l32.imageOKOff(size); got != size-64 {
		t.Errorf("max-align 32 image_ok at -%d, want -64", size-got)
	}
	for _, ma := range []int{8, 16, 32} {
		l := trailerLayout(ma, 0xff)
		if got, want := l.magicBytes()[l.magicAreaSize()-16:], image.BootMagic(ma); !bytes.Equal(got, want) {
			t.Errorf("max-align %d magic % x, image package says % x", ma, got, want)
		}
		if got, want := int(size-l.imageOKOff(size)), image.ImageOKOffset(ma); got != want {
			t.Errorf("max-align %d image_ok at -%d, image package says -%d", ma, got, want)
		}
	}
}

func trailerVectors() []Trailer {
	return []Trailer{
		{Magic: MagicUnset, SwapType: SwapNone},
		{Magic: MagicGood, SwapType: SwapNone},
		{Magic: MagicGood, SwapType: SwapTest, ImageNum: 1, SwapSize: 0x1234},
		{Magic: MagicGood, SwapType: SwapPerm, ImageOK: FlagSet, SwapSize: 1},
		{Magic: MagicGood, SwapType: SwapRevert, ImageNum: 15, ImageOK: FlagSet, CopyDone: FlagSet, SwapSize: 0xfffffffe},
		{Magic: MagicUnset, SwapType: SwapNone, CopyDone: FlagSet},
	}
}

func TestTrailerRoundTrip(t *testing.T) {
	for _, ma := range []int{8, 16, 32} {
		for _, erased := range []byte{0xff, 0x00} {
			l := trailerLayout(ma, erased)
			for _, tr := range trailerVectors() {
				b := l.encodeTrailer(tr)
				got, err := ParseTrailer(b, ma, erased)
				if err != nil {
					t.Fatal(err)
				}
				if got != tr {
					t.Errorf("ma %d erased %#x: %+v round-tripped to %+v", ma, erased, tr, got)
				}
				// Extra leading bytes (the rest of the slot) change nothing.
				got2, _ := ParseTrailer(append(bytes.Repeat([]byte{0xA5}, 100), b...), ma, erased)
				if got2 != tr {
					t.Errorf("with a prefix: %+v", got2)
				}
			}
		}
	}
}

func TestTrailerTruncated(t *testing.T) {
	for _, ma := range []int{8, 16, 32} {
		l := trailerLayout(ma, 0xff)
		b := l.encodeTrailer(trailerVectors()[4])
		for n := range len(b) {
			if _, err := ParseTrailer(b[len(b)-n:], ma, 0xff); err == nil {
				t.Fatalf("ma %d: %d-byte suffix accepted", ma, n)
			}
		}
	}
	if _, err := ParseTrailer(make([]byte, 100), 4, 0xff); err == nil {
		t.Fatal("max-align 4 accepted")
	}
}

func TestTrailerHostileBytes(t *testing.T) {
	l := trailerLayout(8, 0xff)
	b := l.encodeTrailer(Trailer{Magic: MagicGood, ImageOK: FlagSet, CopyDone: FlagSet})
	b[len(b)-1] ^= 1
	b[l.imageOKOff(uint32(len(b)))] = 0x02
	b[l.copyDoneOff(uint32(len(b)))] = 0x00
	got, _ := ParseTrailer(b, 8, 0xff)
	if got.Magic != MagicBad || got.ImageOK != FlagBad || got.CopyDone != FlagBad {
		t.Fatalf("%+v", got)
	}
}

// TestTrailerFromImageSign checks that images padded by the image package
// (imgtool --pad / --confirm) decode as MCUboot reads them.
func TestTrailerFromImageSign(t *testing.T) {
	for _, ma := range []int{8, 32} {
		for _, erased := range []byte{0xff, 0x00} {
			pad := makeImage(t, imgSpec{ver: "1.0.0", size: 100, pad: true, slotSize: 8192, maxAlign: ma, erased: erased})
			conf := makeImage(t, imgSpec{ver: "1.0.0", size: 100, confirm: true, slotSize: 8192, maxAlign: ma, erased: erased})
			tp, _ := ParseTrailer(pad, ma, erased)
			tc, _ := ParseTrailer(conf, ma, erased)
			if tp.Magic != MagicGood || tp.ImageOK != FlagUnset || swapTypeFromTable(Trailer{}, tp) != SwapTest {
				t.Errorf("ma %d erased %#x: --pad trailer %+v", ma, erased, tp)
			}
			if tc.Magic != MagicGood || tc.ImageOK != FlagSet || swapTypeFromTable(Trailer{}, tc) != SwapPerm {
				t.Errorf("ma %d erased %#x: --confirm trailer %+v", ma, erased, tc)
			}
		}
	}
}

func TestSwapTable(t *testing.T) {
	g, u := MagicGood, MagicUnset
	cases := []struct {
		pri, sec Trailer
		want     SwapType
	}{
		{Trailer{}, Trailer{}, SwapNone},
		{Trailer{}, Trailer{Magic: g}, SwapTest},
		{Trailer{}, Trailer{Magic: g, ImageOK: FlagSet}, SwapPerm},
		{Trailer{}, Trailer{Magic: g, ImageOK: FlagBad}, SwapNone},
		{Trailer{}, Trailer{Magic: MagicBad}, SwapNone},
		{Trailer{Magic: g, CopyDone: FlagSet}, Trailer{Magic: u}, SwapRevert},
		{Trailer{Magic: g, CopyDone: FlagSet, ImageOK: FlagSet}, Trailer{}, SwapNone},
		{Trailer{Magic: g, CopyDone: FlagSet}, Trailer{Magic: g}, SwapTest}, // the secondary has priority
		{Trailer{Magic: g, CopyDone: FlagUnset}, Trailer{}, SwapNone},
		{Trailer{Magic: g}, Trailer{Magic: g, ImageOK: FlagSet, SwapType: SwapRevert}, SwapRevert},
	}
	for i, c := range cases {
		if got := swapTypeFromTable(c.pri, c.sec); got != c.want {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
	}
}

func FuzzParseTrailer(f *testing.F) {
	for _, ma := range []int{8, 16, 32} {
		for _, tr := range trailerVectors() {
			f.Add(trailerLayout(ma, 0xff).encodeTrailer(tr), uint8(ma), true)
			f.Add(trailerLayout(ma, 0x00).encodeTrailer(tr), uint8(ma), false)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, ma uint8, ff bool) {
		erased := byte(0)
		if ff {
			erased = 0xff
		}
		tr, err := ParseTrailer(b, int(ma), erased)
		if err != nil {
			return
		}
		// Re-encoding a parsed trailer with only good/set fields gives a
		// trailer that parses to the same good/set fields.
		clean := tr
		if clean.Magic == MagicBad {
			clean.Magic = MagicUnset
		}
		for _, f := range []*Flag{&clean.ImageOK, &clean.CopyDone} {
			if *f == FlagBad {
				*f = FlagUnset
			}
		}
		if b := clean.SwapType; b == SwapType(erased&0x0f) && clean.ImageNum == erased>>4 {
			clean.SwapType, clean.ImageNum = SwapNone, 0
		}
		l := trailerLayout(int(ma), erased)
		got, err := ParseTrailer(l.encodeTrailer(clean), int(ma), erased)
		if err != nil {
			t.Fatal(err)
		}
		if got.Magic != clean.Magic || got.ImageOK != clean.ImageOK || got.CopyDone != clean.CopyDone {
			t.Fatalf("%+v re-parsed as %+v", clean, got)
		}
	})
}

func TestTrailerJSONRoundTrip(t *testing.T) {
	for _, tr := range trailerVectors() {
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		var back Trailer
		if err := json.Unmarshal(b, &back); err != nil || back != tr {
			t.Fatalf("%s: %v %+v", b, err, back)
		}
	}
	var m Magic
	if m.UnmarshalText([]byte("great")) == nil {
		t.Fatal("unknown magic name accepted")
	}
	var s SwapType
	if s.UnmarshalText([]byte("sideways")) == nil {
		t.Fatal("unknown swap type accepted")
	}
}
