package swcomponent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// vector is one file of testdata with what it must decode to and the
// layout that re-encodes it byte for byte (-1: none, the RFC example's
// order is neither).
type vector struct {
	file   string
	want   Component
	layout Layout
}

func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var vectors = []vector{
	{"imgtool-ed25519.prot.cbor", Component{MeasurementType: "SPE", MeasurementValue: make([]byte, 32), Version: "1.2.3",
		SignerID: h("990660020c62c54230ed7fa9469da96092b6089fdbebd8d07a4fd40e14426135"), MeasurementDescription: "SHA256"}, MCUboot},
	{"boot-ed25519.prot.cbor", Component{MeasurementType: "SPE", MeasurementValue: h("2ba3eec93a6f1a4a870d4f55bc4dbea75751540fb73ed17b1a1d95e9f839136b"), Version: "1.2.3",
		SignerID: h("990660020c62c54230ed7fa9469da96092b6089fdbebd8d07a4fd40e14426135"), MeasurementDescription: "SHA256"}, Deterministic},
	{"tfm-psa2-0.cbor", Component{MeasurementType: "SPE", MeasurementValue: h("96a2ec56c65120a60ce3a53ef8d2082233772aacd5b17935a92be12ac577f685"), Version: "1.6.0",
		SignerID: h("bfe6d86f8826f4ff97fb96c4e6fbc4993e4619fc565da26adf34c329489adc38"), MeasurementDescription: "SHA256"}, MCUboot},
	{"tfm-psa2-1.cbor", Component{MeasurementType: "NSPE", MeasurementValue: h("087d13c68f32aaafb8c4fc0a2253445432009765e216fb85c398c9580522c1bf"), Version: "0.0.0",
		SignerID: h("b360caf5c98c6b942a4882fa9d4823efb166a9ef6a6e4aa37c1919ed1fccc049"), MeasurementDescription: "SHA256"}, MCUboot},
	{"tfm-iot1-0.cbor", Component{MeasurementType: "SPE", MeasurementValue: h("f79f1fe6aa0445d620a017d3d5c5215a20367fc135b6ad355beda66a21b693a9"), Version: "1.6.0",
		SignerID: h("bfe6d86f8826f4ff97fb96c4e6fbc4993e4619fc565da26adf34c329489adc38"), MeasurementDescription: "SHA256"}, MCUboot},
	{"rfc9783-0.cbor", Component{MeasurementType: "PRoT", MeasurementValue: bytes.Repeat([]byte{3}, 32), SignerID: bytes.Repeat([]byte{4}, 32)}, -1},
}

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors parses every vector under both key rules, re-encodes it in
// its layout byte for byte, and round-trips it through both layouts.
func TestVectors(t *testing.T) {
	for _, v := range vectors {
		b := readVector(t, v.file)
		for _, k := range []Keys{AnyKeys, KnownKeys} {
			c, err := Parse(b, k)
			if err != nil || !c.Equal(&v.want) {
				t.Fatalf("%s (keys %d): %v\n got %+v\nwant %+v", v.file, k, err, c, v.want)
			}
		}
		if v.layout >= 0 {
			if got := v.want.Append(nil, v.layout); !bytes.Equal(got, b) {
				t.Errorf("%s: re-encoded\n %x\nwant %x", v.file, got, b)
			}
		}
		for _, l := range []Layout{Deterministic, MCUboot} {
			c, err := Parse(v.want.Append(nil, l), KnownKeys)
			if err != nil || !c.Equal(&v.want) {
				t.Errorf("%s: layout %d does not round-trip: %v %+v", v.file, l, err, c)
			}
		}
	}
}

// TestDeterministicEncoding pins the layout of tokens and boot records:
// sorted keys, shortest heads, empty text fields left out.
func TestDeterministicEncoding(t *testing.T) {
	c := Component{MeasurementType: "SPE", MeasurementValue: bytes.Repeat([]byte{0xab}, 32), Version: "2.1.3",
		SignerID: bytes.Repeat([]byte{0xcd}, 32), MeasurementDescription: "SHA256"}
	want := "a5" + "01" + "63535045" + "02" + "5820" + strings.Repeat("ab", 32) +
		"04" + "65322e312e33" + "05" + "5820" + strings.Repeat("cd", 32) + "06" + "66534841323536"
	if got := hex.EncodeToString(c.Append(nil, Deterministic)); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	if b, _ := c.MarshalCBOR(); hex.EncodeToString(b) != want {
		t.Fatal("MarshalCBOR differs from Append(Deterministic)")
	}
	bare := Component{MeasurementValue: []byte{1}, SignerID: nil}
	if got := hex.EncodeToString(bare.Append([]byte{0xff}, Deterministic)); got != "ff"+"a2"+"024101"+"0540" {
		t.Fatalf("bare component: %s", got)
	}
	// Long fields get longer heads.
	long := Component{MeasurementValue: make([]byte, 300), Version: strings.Repeat("v", 24)}
	enc := long.Append(nil, MCUboot)
	if !bytes.Contains(enc, h("047818")) || !bytes.Contains(enc, h("0259012c")) {
		t.Fatalf("heads of long fields: %x", enc)
	}
}

// TestEveryPrefixRefused: no proper prefix of a valid map parses, under
// either key rule.
func TestEveryPrefixRefused(t *testing.T) {
	for _, v := range vectors {
		b := readVector(t, v.file)
		for i := range len(b) {
			for _, k := range []Keys{AnyKeys, KnownKeys} {
				if _, err := Parse(b[:i], k); !errors.Is(err, ErrSyntax) {
					t.Fatalf("%s: %d-byte prefix (keys %d): %v", v.file, i, k, err)
				}
			}
		}
	}
}

// TestRefusals lists what the reader refuses and where it says the fault is.
func TestRefusals(t *testing.T) {
	mv := "025820" + strings.Repeat("11", 32)
	sid := "055820" + strings.Repeat("22", 32)
	deep := strings.Repeat("81", 9) + "00"
	for _, c := range []struct {
		name, hex string
		keys      Keys
		field     string
		err       error
	}{
		{"empty", "", AnyKeys, "", ErrSyntax},
		{"not a map", "80", AnyKeys, "", ErrSyntax},
		{"indefinite map", "bf" + mv + "ff", AnyKeys, "", ErrSyntax},
		{"reserved head", "bc", AnyKeys, "", ErrSyntax},
		{"huge count", "bbffffffffffffffff", AnyKeys, "", ErrOversized},
		{"17 entries", "b1" + strings.Repeat("00", 34), AnyKeys, "", ErrOversized},
		{"6 entries, known keys", "a6" + strings.Repeat("00", 12), KnownKeys, "", ErrOversized},
		{"duplicate key", "a3" + mv + mv[:2] + "41aa" + sid, AnyKeys, "", ErrSyntax},
		{"duplicate key, long form", "a3" + mv + "1802" + "41aa" + sid, AnyKeys, "", ErrSyntax},
		{"duplicate text key", "a4" + mv + sid + "6178" + "00" + "6178" + "01", AnyKeys, "", ErrSyntax},
		{"unknown key, known keys", "a3" + mv + sid + "09" + "00", KnownKeys, "", ErrSyntax},
		{"text key, known keys", "a3" + mv + sid + "6178" + "00", KnownKeys, "", ErrSyntax},
		{"negative key, known keys", "a3" + mv + sid + "21" + "00", KnownKeys, "", ErrSyntax},
		{"unknown value too deep", "a3" + mv + sid + "09" + deep, AnyKeys, "", ErrSyntax},
		{"unknown value truncated", "a3" + mv + sid + "09" + "42aa", AnyKeys, "", ErrSyntax},
		{"bad UTF-8 in unknown value", "a3" + mv + sid + "09" + "62c328", AnyKeys, "", ErrSyntax},
		{"trailing byte", "a2" + mv + sid + "00", AnyKeys, "", ErrSyntax},
		{"value is text", "a2" + "02" + "6161" + sid, AnyKeys, FieldMeasurementValue, ErrSyntax},
		{"value is tagged", "a2" + "02" + "d818" + "41aa" + sid, AnyKeys, FieldMeasurementValue, ErrSyntax},
		{"signer is int", "a2" + mv + "05" + "01", AnyKeys, FieldSignerID, ErrSyntax},
		{"type is bytes", "a3" + "01" + "41aa" + mv + sid, KnownKeys, FieldMeasurementType, ErrSyntax},
		{"version is int", "a3" + mv + "04" + "01" + sid, AnyKeys, FieldVersion, ErrSyntax},
		{"description is map", "a3" + mv + sid + "06" + "a0", AnyKeys, FieldMeasurementDescription, ErrSyntax},
		{"bad UTF-8 in type", "a3" + "01" + "62c328" + mv + sid, AnyKeys, "", ErrSyntax},
	} {
		b := h(c.hex)
		_, err := Parse(b, c.keys)
		var fe *FieldError
		if !errors.Is(err, c.err) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v, want %v in field %q", c.name, err, c.err, c.field)
		}
	}
	// Text fields are bounded: 256 bytes pass, 257 do not.
	for _, n := range []int{MaxTextLen, MaxTextLen + 1} {
		s := strings.Repeat("a", n)
		enc := (&Component{MeasurementValue: []byte{1}, SignerID: []byte{2}, Version: s}).Append(nil, Deterministic)
		c, err := Parse(enc, KnownKeys)
		var fe *FieldError
		if n <= MaxTextLen && (err != nil || c.Version != s) {
			t.Errorf("%d-byte version: %v", n, err)
		}
		if n > MaxTextLen && (!errors.Is(err, ErrOversized) || !errors.As(err, &fe) || fe.Field != FieldVersion) {
			t.Errorf("%d-byte version: %v", n, err)
		}
	}
}

// TestUnknownKeysSkipped: under AnyKeys other entries (integer, text or
// negative keys, nested values) are ignored; the known fields still read.
func TestUnknownKeysSkipped(t *testing.T) {
	mv := "025820" + strings.Repeat("11", 32)
	sid := "055820" + strings.Repeat("22", 32)
	b := h("a6" + "03" + "00" + mv + "6178" + "a1" + "01" + "80" + "21" + "f5" + sid + "1864" + "c1" + "1a" + "00000000")
	c, err := Parse(b, AnyKeys)
	if err != nil || len(c.MeasurementValue) != 32 || len(c.SignerID) != 32 || c.MeasurementType != "" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := Parse(b, KnownKeys); err == nil {
		t.Fatal("known keys accepted unknown ones")
	}
	if _, err := Parse(h("a3"+mv+sid+"03"+"00"), KnownKeys); !errors.Is(err, ErrSyntax) {
		t.Fatalf("known keys accepted key 3: %v", err)
	}
}

// TestParseAliasesInput documents that the byte fields alias the input.
func TestParseAliasesInput(t *testing.T) {
	b := readVector(t, "boot-ed25519.prot.cbor")
	c, _ := Parse(b, KnownKeys)
	if len(c.MeasurementValue) == 0 || cap(c.MeasurementValue) != len(c.MeasurementValue) {
		t.Fatal("a byte field is not capped at its length")
	}
	d := c.Clone()
	b[9] ^= 0xff // the measurement value's first byte (after a5 01 63 "SPE" 02 58 20)
	if c.MeasurementValue[0] == d.MeasurementValue[0] {
		t.Fatal("Clone shares memory, or Parse copied")
	}
}

// TestMeasured fills in imgtool's zeros as MCUboot does.
func TestMeasured(t *testing.T) {
	raw := readVector(t, "imgtool-ed25519.prot.cbor")
	measured := readVector(t, "boot-ed25519.prot.cbor")
	want, _ := Parse(measured, KnownKeys)
	out, err := Measured(raw, want.MeasurementValue)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Parse(out, KnownKeys); err != nil || !c.Equal(&want) {
		t.Fatalf("%v %+v", err, c)
	}
	if raw[len(raw)-1] != 0 {
		t.Fatal("Measured wrote into its input")
	}
	if _, err := Measured(raw, want.MeasurementValue[:20]); !errors.Is(err, ErrSyntax) {
		t.Fatalf("short digest: %v", err)
	}
	// The deterministic layout has the signer ID last: MCUboot could not
	// patch it in place.
	if _, err := Measured(measured, want.MeasurementValue); !errors.Is(err, ErrSyntax) {
		t.Fatalf("value not last: %v", err)
	}
	if _, err := Measured(h("a0"), nil); !errors.Is(err, ErrSyntax) {
		t.Fatalf("empty map: %v", err)
	}
	if _, err := Measured(readVector(t, "rfc9783-0.cbor")[:10], nil); !errors.Is(err, ErrSyntax) {
		t.Fatalf("truncated: %v", err)
	}
}

// TestFxamackerInterop: a []Component marshals with github.com/fxamacker/cbor
// as an array of maps in the deterministic layout (rampart boot run
// --records) and unmarshals back, refusing a record without a measurement
// value or signer ID.
func TestFxamackerInterop(t *testing.T) {
	var cs []Component
	for _, v := range vectors {
		cs = append(cs, v.want)
	}
	b, err := cbor.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x80 | byte(len(cs))}
	for i := range cs {
		want = cs[i].Append(want, Deterministic)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("array\n %x\nwant %x", b, want)
	}
	var back []Component
	if err := cbor.Unmarshal(b, &back); err != nil || len(back) != len(cs) {
		t.Fatalf("%v %d", err, len(back))
	}
	for i := range cs {
		if !back[i].Equal(&cs[i]) {
			t.Fatalf("%d: %+v", i, back[i])
		}
	}
	for name, bad := range map[string]string{
		"no value":  "a1" + "0541cc",
		"no signer": "a1" + "0241aa",
		"duplicate": "a3" + "0241aa" + "0241bb" + "0541cc",
		// github.com/fxamacker/cbor's own decoding, which boot's records
		// used before, accepts an indefinite-length map.
		"indefinite": "bf" + "0241aa" + "0541cc" + "ff",
		"bad UTF-8":  "a3" + "0241aa" + "0541cc" + "0462c328",
	} {
		var c Component
		if err := c.UnmarshalCBOR(h(bad)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	var c Component
	err = c.UnmarshalCBOR(h("a1" + "0541cc"))
	var fe *FieldError
	if !errors.Is(err, ErrMissing) || !errors.As(err, &fe) || fe.Field != FieldMeasurementValue {
		t.Fatalf("missing value: %v", err)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	_, err := Parse(h("a2"+"02"+"01"+"0541cc"), AnyKeys)
	if got := err.Error(); got != "swcomponent: measurement-value: malformed: unsigned integer, want byte string" {
		t.Fatal(got)
	}
}

// FuzzParse: seeded with every vector. Whatever parses re-encodes, in both
// layouts, to bytes that parse to the same component under both key rules;
// KnownKeys accepts nothing AnyKeys refuses, and agrees where both accept;
// no proper prefix of an accepted input parses; Measured never panics and
// only fills in what parses.
func FuzzParse(f *testing.F) {
	for _, v := range vectors {
		f.Add(readVector(f, v.file))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		known, kerr := Parse(b, KnownKeys)
		c, err := Parse(b, AnyKeys)
		if kerr == nil && (err != nil || !c.Equal(&known)) {
			t.Fatalf("KnownKeys accepted what AnyKeys refuses or reads differently: %v", err)
		}
		if m, err := Measured(b, make([]byte, len(c.MeasurementValue))); err == nil {
			if _, err := Parse(m, KnownKeys); err != nil || kerr != nil {
				t.Fatalf("Measured made a record that does not parse: %v, or from one KnownKeys refuses: %v", err, kerr)
			}
		}
		if err != nil {
			return
		}
		for _, l := range []Layout{Deterministic, MCUboot} {
			e := c.Append(nil, l)
			for _, k := range []Keys{AnyKeys, KnownKeys} {
				d, err := Parse(e, k)
				if err != nil || !d.Equal(&c) {
					t.Fatalf("layout %d, keys %d: re-encoding does not round-trip: %v", l, k, err)
				}
			}
		}
		for i := range len(b) {
			if _, err := Parse(b[:i], AnyKeys); err == nil {
				t.Fatalf("%d-byte prefix of an accepted map parses", i)
			}
		}
	})
}

// BenchmarkParse reads a TF-M token's component, as the verifier does for
// each component of every token.
func BenchmarkParse(b *testing.B) {
	v := readVector(b, "tfm-psa2-0.cbor")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(v, AnyKeys); err != nil {
			b.Fatal(err)
		}
	}
}
