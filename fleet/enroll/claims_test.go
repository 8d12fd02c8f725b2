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
