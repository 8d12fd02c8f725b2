package platform

import (
	"encoding/json"
	"testing"

	"rampart/attest"
	"rampart/swcomponent"
)

// TestBootStateRoundTrip: what FWU answers is what attestation reads.
func TestBootStateRoundTrip(t *testing.T) {
	cs := []swcomponent.Component{{MeasurementType: "BL2", MeasurementValue: make([]byte, 32), SignerID: make([]byte, 32), Version: "1.2.3"},
		{MeasurementType: "NSPE", MeasurementValue: []byte{1, 2, 3, 4}, SignerID: []byte{5, 6}}}
	bs := bootState{KeyFuses: &attest.KeyFuses{Pending: 1, Revoked: 4}}
	for _, c := range cs {
		b, _ := c.MarshalCBOR()
		bs.Records = append(bs.Records, b)
	}
	wire, err := json.Marshal(bs)
	if err != nil {
		t.Fatal(err)
	}
	got, fuses, err := parseBootState(wire)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cs) || *fuses != *bs.KeyFuses {
		t.Fatalf("got %d records, fuses %+v", len(got), fuses)
	}
	for i := range cs {
		if !got[i].Equal(&cs[i]) {
			t.Errorf("record %d: %+v, want %+v", i, got[i], cs[i])
		}
	}
	for _, bad := range []string{`{"records": ["AAAA"]}`, `{"records": 1}`, `[`} {
		if _, _, err := parseBootState([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// FuzzParseBootState: the attestation partition parses what the FWU
// partition's process answers; a hostile one must not crash it, and what
// parses encodes again to records that parse the same.
func FuzzParseBootState(f *testing.F) {
	c := swcomponent.Component{MeasurementType: "BL2", MeasurementValue: make([]byte, 32), SignerID: make([]byte, 32)}
	rec, _ := c.MarshalCBOR()
	seed, _ := json.Marshal(bootState{Records: [][]byte{rec}, KeyFuses: &attest.KeyFuses{Activated: 2}})
	f.Add(seed)
	f.Add([]byte(`{"records":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _, err := parseBootState(b)
		if err != nil {
			return
		}
		for _, c := range cs {
			enc, _ := c.MarshalCBOR()
			var again swcomponent.Component
			if err := again.UnmarshalCBOR(enc); err != nil || !again.Equal(&c) {
				t.Fatalf("record %+v does not survive re-encoding: %v", c, err)
			}
		}
	})
}
