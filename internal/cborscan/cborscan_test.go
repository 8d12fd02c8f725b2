package cborscan

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// seeds are real inputs: the PSA tokens of attest/testdata (COSE_Sign1
// arrays holding claims maps) and the software components of
// swcomponent/testdata.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, p := range []string{
		"../../attest/testdata/rfc-sign1.cbor", "../../attest/testdata/psa-2_0_0_sign1.bin", "../../attest/testdata/psa-iot-1_sign1.bin",
		"../../swcomponent/testdata/tfm-psa2-0.cbor", "../../swcomponent/testdata/rfc9783-0.cbor",
	} {
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestHead(t *testing.T) {
	for _, c := range []struct {
		hex        string
		major      byte
		arg        uint64
		n          int
		err        error
		wantErrNot bool
	}{
		{"17", Uint, 23, 1, nil, false},
		{"1818", Uint, 24, 2, nil, false},
		{"190100", Uint, 256, 3, nil, false},
		{"1a00010000", Uint, 65536, 5, nil, false},
		{"1b0000000100000000", Uint, 1 << 32, 9, nil, false},
		{"1800", Uint, 0, 2, nil, false}, // non-preferred, accepted
		{"5820", Bytes, 32, 2, nil, false},
		{"d2", Tag, 18, 1, nil, false},
		{"", 0, 0, 0, ErrTruncated, true},
		{"19ff", 0, 0, 0, ErrTruncated, true},
		{"5f", 0, 0, 0, ErrIndefinite, true},
		{"1c", 0, 0, 0, ErrReserved, true},
		{"fe", 0, 0, 0, ErrReserved, true},
	} {
		m, a, n, err := Head(h(c.hex))
		if !errors.Is(err, c.err) || (c.err == nil && (m != c.major || a != c.arg || n != c.n)) {
			t.Errorf("%s: %d %d %d %v", c.hex, m, a, n, err)
		}
	}
}

func TestItemSize(t *testing.T) {
	for _, c := range []struct {
		hex  string
		size int
		err  error
	}{
		{"00", 1, nil},
		{"f97e00", 3, nil},                      // half float
		{"6161" + "ff", 2, nil},                 // text "a", then anything
		{"83010203", 4, nil},                    // [1, 2, 3]
		{"a201020304", 5, nil},                  // {1: 2, 3: 4}
		{"c11a00000000", 6, nil},                // tag 1
		{"62c328", 0, ErrUTF8},                  // invalid UTF-8
		{"43aabb", 0, ErrTruncated},             // 3-byte string, 2 bytes
		{"9bffffffffffffffff", 0, ErrTruncated}, // huge array
		{"bbffffffffffffffff", 0, ErrTruncated}, // huge map
		{"bb8000000000000000", 0, ErrTruncated}, // map count that doubles past 2^64
		{"9f01ff", 0, ErrIndefinite},
		{strings.Repeat("81", 9) + "00", 0, ErrTooDeep}, // depth 9 > 8
		{strings.Repeat("81", 8) + "00", 9, nil},
		{strings.Repeat("c1", 9) + "00", 0, ErrTooDeep},
	} {
		n, err := ItemSize(h(c.hex), 0, 8)
		if !errors.Is(err, c.err) || (c.err == nil && n != c.size) {
			t.Errorf("%s: %d %v", c.hex, n, err)
		}
	}
}

func TestSplitMap(t *testing.T) {
	b := h("a3" + "01" + "02" + "6161" + "80" + "20" + "f6")
	es, err := SplitMap(b, 3, 8, nil)
	if err != nil || len(es) != 3 {
		t.Fatal(err, len(es))
	}
	if !es[0].IntKey || es[0].Key != 1 || es[1].IntKey || string(es[1].RawKey) != "\x61a" || !es[2].IntKey || es[2].Key != -1 {
		t.Fatalf("%+v", es)
	}
	if v, ok := Lookup(es, -1); !ok || v[0] != 0xf6 {
		t.Fatal("lookup -1")
	}
	if _, ok := Lookup(es, 5); ok {
		t.Fatal("lookup of an absent key")
	}
	// dst's own entries are not keys of this map.
	if es2, err := SplitMap(b, 3, 8, es); err != nil || len(es2) != 6 {
		t.Fatal("entries already in dst counted as duplicates", err)
	}
	for _, c := range []struct {
		hex string
		err error
	}{
		{"80", ErrWrongType},
		{"a4" + strings.Repeat("0000", 4), ErrTooMany},
		{"a2" + "0100" + "180100", ErrDuplicateKey}, // 1 and 0x1801 clash
		{"a2" + "616100" + "616100", ErrDuplicateKey},
		{"a1" + "0100" + "00", ErrTrailing},
		{"a2" + "0100", ErrTruncated},
		{"a1" + "01" + strings.Repeat("81", 8) + "00", ErrTooDeep}, // value at depth 1, 8 more levels
	} {
		if _, err := SplitMap(h(c.hex), 3, 8, nil); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.hex, err, c.err)
		}
	}
}

// TestSeedsAndPrefixes: every seed is one whole item, and no proper
// prefix of it is.
func TestSeedsAndPrefixes(t *testing.T) {
	for _, b := range seeds(t) {
		n, err := ItemSize(b, 0, 8)
		if err != nil || n != len(b) {
			t.Fatalf("seed: %d of %d, %v", n, len(b), err)
		}
		for i := range len(b) {
			if _, err := ItemSize(b[:i], 0, 8); err == nil {
				t.Fatalf("%d-byte prefix measured", i)
			}
		}
	}
}

func TestNoAllocations(t *testing.T) {
	b := seeds(t)[1]
	var buf [16]Entry
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ItemSize(b, 0, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := SplitMap(h("a201020304"), 16, 8, buf[:0]); err != nil {
			t.Fatal(err)
		}
	}); n > 1 { // h() allocates once
		t.Fatalf("%v allocations", n)
	}
}

// FuzzItemSize: no panic; a measured item lies within the input, measures
// the same on its own, and none of its proper prefixes measures; SplitMap
// agrees with ItemSize on maps.
func FuzzItemSize(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ItemSize(b, 0, 8)
		if err != nil {
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("size %d of %d bytes", n, len(b))
		}
		if m, err := ItemSize(b[:n], 0, 8); err != nil || m != n {
			t.Fatalf("the item alone: %d %v", m, err)
		}
		for i := range n {
			if _, err := ItemSize(b[:i], 0, 8); err == nil {
				t.Fatalf("%d-byte prefix measured", i)
			}
		}
		if Major(b) == Map {
			if _, err := SplitMap(b[:n], 1<<20, 8, nil); err != nil && !errors.Is(err, ErrDuplicateKey) {
				t.Fatalf("SplitMap refuses a measured map: %v", err)
			}
		}
	})
}
