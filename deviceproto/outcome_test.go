package deviceproto

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestParseOutcome: the result is explicit; an older agent's message (ok
// only) reads as ok or failed, whatever its error text says; a result that
// contradicts ok, or an unknown one, is refused.
func TestParseOutcome(t *testing.T) {
	for in, want := range map[string]Result{
		`{"job":"j","ok":true,"result":"ok","version":"2.0.0"}`:                         ResultOK,
		`{"job":"j","ok":false,"result":"reverted","version":"1.0.0","error":"x"}`:      ResultReverted,
		`{"job":"j","ok":false,"result":"failed","version":"1.0.0","error":"reverted"}`: ResultFailed,
		`{"job":"j","ok":true,"version":"2.0.0"}`:                                       ResultOK,
		`{"job":"j","ok":false,"version":"1.0.0","error":"self-test failed, reverted"}`: ResultFailed,
	} {
		o, err := ParseOutcome([]byte(in))
		if err != nil || o.Result != want {
			t.Errorf("%s: %q, %v; want %q", in, o.Result, err, want)
		}
	}
	for _, in := range []string{
		`{"job":"j","ok":true,"result":"reverted"}`,
		`{"job":"j","ok":false,"result":"ok"}`,
		`{"job":"j","ok":false,"result":"verified"}`,
		`{"ok":true,"result":"ok"}`,
		`[]`,
	} {
		if _, err := ParseOutcome([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
	b, _ := json.Marshal(Outcome{JobID: "j", OK: false, Result: ResultReverted, Version: "1.0.0"})
	if o, err := ParseOutcome(b); err != nil || o.Result != ResultReverted {
		t.Fatalf("round trip: %+v %v", o, err)
	}
}

// FuzzParseOutcome: whatever parses has a result that agrees with ok, and
// re-encodes to an outcome that parses the same.
func FuzzParseOutcome(f *testing.F) {
	f.Add([]byte(`{"job":"rollout-2.0.0","ok":true,"result":"ok","version":"2.0.0","token":"0oRD"}`))
	f.Add([]byte(`{"job":"j","ok":false,"result":"reverted","version":"1.0.0","error":"self-test failed"}`))
	f.Add([]byte(`{"job":"j","ok":false,"version":"1.0.0"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOutcome(b)
		if err != nil {
			return
		}
		if o.OK != (o.Result == ResultOK) {
			t.Fatalf("result %q with ok %v", o.Result, o.OK)
		}
		out, _ := json.Marshal(o)
		o2, err := ParseOutcome(out)
		if err != nil || o2.JobID != o.JobID || o2.Result != o.Result || o2.Version != o.Version || o2.Error != o.Error || !bytes.Equal(o2.Token, o.Token) {
			t.Fatalf("round trip: %+v %v", o2, err)
		}
	})
}
