package telemetry

import (
	"errors"
	"math"
	"testing"
	"time"
)

// sameMessage reports whether two decoded messages carry the same ts and
// the same set of samples (encoding/json's map has no order).
func sameMessage(a, b message) bool {
	if a.ts != b.ts || len(a.values) != len(b.values) {
		return false
	}
	want := make(map[string]float64, len(b.values))
	for _, s := range b.values {
		want[s.name] = s.value
	}
	for _, s := range a.values {
		v, ok := want[s.name]
		if !ok || math.Float64bits(v) != math.Float64bits(s.value) {
			return false
		}
	}
	return true
}

var scanCases = []struct {
	payload string
	fast    bool // scanCanonical takes it
}{
	{`{"ts":1764000000000,"values":{"temperature":21.5,"rssi":-67}}`, true},
	{`{"values":{"uptime_s":0.22},"ts":1764000000000}`, true},
	{" \t\r\n{ \"values\" : { \"a\" : 1e3 , \"b\" : -0 } } \n", true},
	{`{"values":{"a":0.5E-3,"b":1E+2,"c":-0.0}}`, true},
	{`{"ts":-0,"values":{"a":1}}`, true},
	{`{"values":{}}`, true}, // scanned; refused by validation like encoding/json's result
	{`{"values":{"bad name":1}}`, true},
	{`{"ts":1.5,"values":{"a":1}}`, false},
	{`{"ts":1e3,"values":{"a":1}}`, false},
	{`{"ts":99999999999999999999,"values":{"a":1}}`, false},
	{`{"ts":null,"values":{"a":1}}`, false},
	{`{"TS":1,"Values":{"a":1}}`, false}, // encoding/json matches keys case-insensitively
	{`{"values":{"a":1,"a":2}}`, false},  // duplicate: last wins in encoding/json
	{`{"values":{"a":1},"values":{"b":2}}`, false},
	{`{"values":{"a":1},"Values":{"b":2}}`, false}, // merged by encoding/json: refused by strictJSON
	{`{"values":{"a":null}}`, false},               // 0 for encoding/json: refused by strictJSON
	{`{"values":{"\u0061":1}}`, false},
	{`{"values":{"a":1},"extra":[1,{"x":null}]}`, false},
	{`{"values":{"a":01}}`, false},
	{`{"values":{"a":+1}}`, false},
	{`{"values":{"a":.5}}`, false},
	{`{"values":{"a":1.}}`, false},
	{`{"values":{"a":-}}`, false},
	{`{"values":{"a":1e400}}`, false},
	{`{"values":{"a":"1"}}`, false},
	{`{"values":{"a":1,}}`, false},
	{`{"values":{"a":1}} x`, false},
	{`{"values":{"a":1}`, false},
	{`{"values":null}`, false},
	{`{}`, false},
	{`null`, false},
	{``, false},
}

func TestScanCanonicalAgreesWithEncodingJSON(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	for _, c := range scanCases {
		m, ok := scanCanonical([]byte(c.payload))
		if ok != c.fast {
			t.Errorf("%q: fast path took it = %v, want %v", c.payload, ok, c.fast)
		}
		ref, refErr := decodeJSON([]byte(c.payload))
		if ok && (refErr != nil || !sameMessage(m, ref)) {
			t.Errorf("%q: fast path decoded %+v, encoding/json %+v, %v", c.payload, m, ref, refErr)
		}
		// Parse as a whole says the same as the reference path alone.
		got, err := Parse("d", []byte(c.payload), now, 0)
		var want []any
		if refErr == nil {
			pts, e := ref.points("d", now, 0)
			refErr = e
			for _, p := range pts {
				want = append(want, p)
			}
		}
		if (err == nil) != (refErr == nil) || (err != nil && !errors.Is(err, ErrPayload)) || len(got) != len(want) {
			t.Errorf("%q: Parse = %d samples, %v; reference %d samples, %v", c.payload, len(got), err, len(want), refErr)
		}
	}
}

// FuzzScanCanonical: whatever the fast path accepts, encoding/json decodes
// to the same message, so the fast path never changes what is accepted.
func FuzzScanCanonical(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, ok := scanCanonical(payload)
		if !ok {
			return
		}
		ref, err := decodeJSON(payload)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", payload, err)
		}
		if !sameMessage(m, ref) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", payload, m, ref)
		}
	})
}

// BenchmarkParse compares the fast path with encoding/json on the payload
// devices send (go test ./fleet/telemetry -run '^$' -bench Parse).
func BenchmarkParse(b *testing.B) {
	now := time.UnixMilli(1_764_000_000_000)
	for _, p := range []struct{ name, payload string }{
		{"1value", `{"ts":1764000000000,"values":{"temperature":21.5}}`},
		{"8values", `{"ts":1764000000000,"values":{"temperature":21.5,"rssi":-67,"battery":3.71,"uptime_s":86400,"humidity":40.25,"pressure":1013.2,"co2":612,"lux":120.5}}`},
	} {
		b.Run(p.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("dev", []byte(p.payload), now, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := decodeJSON([]byte(p.payload))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.points("dev", now, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
