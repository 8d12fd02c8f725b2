package enroll

import (
	"encoding/json"
	"testing"

	"rampart/attest"
)

// TestClaimsRecordKeepsKeyFuses: the record kept with a certificate holds
// the token's release-key fuses and the keys' states by name, and leaves
// them out for a token without the claim.
func TestClaimsRecordKeepsKeyFuses(t *testing.T) {
	c := &attest.Claims{ClientID: -1, KeyFuses: &attest.KeyFuses{Pending: 0b10, Activated: 0b10, Retiring: 0b01}}
	var r claimsRecord
	if err := json.Unmarshal([]byte(claimsJSON(c)), &r); err != nil {
		t.Fatal(err)
	}
	if r.ReleaseKeys == nil || r.ReleaseKeys.Statuses != "0:retiring 1:active" || r.ReleaseKeys.Pending != 2 || r.ReleaseKeys.Retiring != 1 {
		t.Fatalf("release keys in the record: %+v", r.ReleaseKeys)
	}
	c.KeyFuses = nil
	var plain map[string]any
	if err := json.Unmarshal([]byte(claimsJSON(c)), &plain); err != nil {
		t.Fatal(err)
	}
	if _, ok := plain["release_keys"]; ok {
		t.Fatal("release_keys recorded for a token without the claim")
	}
}

// TestRecordedKeyFusesReadsWhatClaimsJSONWrote: the fuses come back from
// the record as the token carried them, and a record without them, an
// empty one and one that is not JSON read as unknown.
func TestRecordedKeyFusesReadsWhatClaimsJSONWrote(t *testing.T) {
	want := attest.KeyFuses{Pending: 0b110, Activated: 0b010, Retiring: 0b001, Revoked: 0b100}
	got, ok := RecordedKeyFuses(claimsJSON(&attest.Claims{ClientID: -1, KeyFuses: &want}))
	if !ok || got != want {
		t.Fatalf("RecordedKeyFuses = %+v, %v; want %+v", got, ok, want)
	}
	for _, rec := range []string{claimsJSON(&attest.Claims{ClientID: -1}), "", "{", `{"release_keys":null}`} {
		if _, ok := RecordedKeyFuses(rec); ok {
			t.Errorf("RecordedKeyFuses(%q) reported fuses", rec)
		}
	}
}

// FuzzRecordedKeyFuses: any stored text reads without a panic, and fuses it
// reports survive a write and read back.
func FuzzRecordedKeyFuses(f *testing.F) {
	f.Add(claimsJSON(&attest.Claims{ClientID: -1, KeyFuses: &attest.KeyFuses{Revoked: 1}}))
	f.Add(`{"release_keys":{"revoked":4294967295}}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, rec string) {
		k, ok := RecordedKeyFuses(rec)
		if !ok {
			return
		}
		again, ok := RecordedKeyFuses(claimsJSON(&attest.Claims{KeyFuses: &k}))
		if !ok || again != k {
			t.Fatalf("fuses %+v read back as %+v, %v", k, again, ok)
		}
	})
}
