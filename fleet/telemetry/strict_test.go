package telemetry

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"rampart/deviceproto"
)

// TestParseRefusesNullAndRepeats: what encoding/json accepts silently is
// refused, on the slow path too: a null value (stored as 0 before), a null
// ts, a second values object (merged into the first before, also spelled
// "Values"), a metric named twice (the last one kept before), a repeated ts.
func TestParseRefusesNullAndRepeats(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	for name, p := range map[string]string{
		"null value":              `{"values":{"a":null}}`,
		"null among numbers":      `{"values":{"a":1,"b":null}}`,
		"null ts":                 `{"ts":null,"values":{"a":1}}`,
		"null values":             `{"values":null}`,
		"two values objects":      `{"values":{"a":1},"values":{"b":2}}`,
		"values and Values":       `{"values":{"a":1},"Values":{"b":2}}`,
		"a metric twice":          `{"values":{"a":1,"a":2}}`,
		"a metric twice, escaped": `{"values":{"a":1,"\u0061":2}}`,
		"ts twice":                `{"ts":1764000000000,"TS":1764000000001,"values":{"a":1}}`,
		"values twice, other key": `{"values":{"a":1},"x":[null,{"values":1}],"vAlUeS":{"c":3}}`,
		"ts and Ts":               `{"ts":1,"Ts":2,"values":{"a":1}}`,
	} {
		if pts, err := Parse("d", []byte(p), now, 0); !errors.Is(err, ErrPayload) {
			t.Errorf("%s: %v, %v; want ErrPayload", name, pts, err)
		}
	}
	// Still accepted: other keys (ignored, null inside them too), escapes.
	for _, p := range []string{
		`{"values":{"a":1},"extra":[1,{"x":null}]}`,
		`{"values":{"\u0061":1,"b":2}}`,
		`{"TS":1764000000000,"Values":{"a":1}}`,
	} {
		if _, err := Parse("d", []byte(p), now, 0); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestParseRetentionWindow: a ts older than the retention window is
// refused (retention would delete it at the next pass); at the boundary and
// without a retention it is accepted.
func TestParseRetentionWindow(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	day := 24 * time.Hour
	old := `{"ts":` + itoa(now.Add(-31*day).UnixMilli()) + `,"values":{"a":1}}`
	if _, err := Parse("d", []byte(old), now, 30*day); !errors.Is(err, ErrPayload) {
		t.Fatalf("31 days old with 30 days retention: %v", err)
	}
	if _, err := Parse("d", []byte(`{"ts":1,"values":{"a":1}}`), now, 30*day); !errors.Is(err, ErrPayload) {
		t.Fatalf("1970 with 30 days retention: %v", err)
	}
	edge := `{"ts":` + itoa(now.Add(-30*day).UnixMilli()) + `,"values":{"a":1}}`
	if _, err := Parse("d", []byte(edge), now, 30*day); err != nil {
		t.Fatalf("exactly 30 days old: %v", err)
	}
	if _, err := Parse("d", []byte(old), now, 0); err != nil {
		t.Fatalf("no retention: %v", err)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// FuzzStrictDecode: the strict reference only ever refuses: whatever it
// accepts, plain encoding/json decodes to the same message. (FuzzScanCanonical
// checks the fast path against this reference.)
func FuzzStrictDecode(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c.payload))
	}
	for _, s := range []string{`{"values":{"a":null}}`, `{"values":{"a":1},"Values":{"b":2}}`, `{"values":{"a":1,"\u0061":2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := decodeJSON(payload)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("%q: error %v does not wrap ErrPayload", payload, err)
			}
			return
		}
		var jm deviceproto.Telemetry
		if err := json.Unmarshal(payload, &jm); err != nil {
			t.Fatalf("%q: strict accepts, encoding/json refuses: %v", payload, err)
		}
		if jm.TS != m.ts || len(jm.Values) != len(m.values) {
			t.Fatalf("%q: strict %+v, encoding/json %+v", payload, m, jm)
		}
		for _, s := range m.values {
			if v, ok := jm.Values[s.name]; !ok || math.Float64bits(v) != math.Float64bits(s.value) {
				t.Fatalf("%q: metric %q strict %v, encoding/json %v", payload, s.name, s.value, v)
			}
		}
	})
}

// TestWriterRefusesSamplesOlderThanRetention: the writer applies its
// Retention to what devices submit (the server passes telemetry.retention).
func TestWriterRefusesSamplesOlderThanRetention(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	w := NewWriter(WriterConfig{Now: func() time.Time { return now }, Retention: time.Hour})
	defer w.Close()
	old := `{"ts":` + itoa(now.Add(-2*time.Hour).UnixMilli()) + `,"values":{"a":1}}`
	if err := w.Submit("d", []byte(old), func(error) { t.Error("done called for a refused payload") }); !errors.Is(err, ErrPayload) {
		t.Fatalf("2 hours old with 1 hour retention: %v", err)
	}
}
