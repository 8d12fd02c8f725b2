package ps

import (
	"bytes"
	"testing"

	"rampart/psa"
)

// recordSeeds are real version records: a live object, an unprotected
// one, a client's floor, and an older release's tombstone.
func recordSeeds() [][]byte {
	var out [][]byte
	for _, r := range []record{
		{Client: -1, UID: 7, Version: 3, State: stateLive, Flags: psa.StorageFlagWriteOnce},
		{Client: -2, UID: 1 << 40, Version: 9, State: stateUnprotected, Flags: psa.StorageFlagNoReplayProtection},
		{Client: -1, UID: 0, Version: 12, State: stateFloor},
		{Client: -3, UID: 5, Version: 4, State: stateRemoved},
	} {
		out = append(out, r.marshal())
	}
	return out
}

// TestParseRecord: every seed round-trips, every prefix is refused, and a
// floor is only ever the record of uid 0.
func TestParseRecord(t *testing.T) {
	for _, b := range recordSeeds() {
		r, err := parseRecord(b)
		if err != nil || !bytes.Equal(r.marshal(), b) {
			t.Fatalf("%x: %v", b, err)
		}
		for i := range b {
			if _, err := parseRecord(b[:i]); err == nil {
				t.Fatalf("prefix %d of %x accepted", i, b)
			}
		}
	}
	bad := (&record{Client: -1, UID: 3, Version: 1, State: stateFloor}).marshal()
	if _, err := parseRecord(bad); err == nil {
		t.Fatal("a floor for a uid other than 0 accepted")
	}
	bad = (&record{Client: -1, UID: 0, Version: 1, State: stateLive}).marshal()
	if _, err := parseRecord(bad); err == nil {
		t.Fatal("a live record for uid 0 accepted")
	}
}

// FuzzParseRecord feeds hostile version records (what a damaged ITS could
// hold) to the parser: no panic, and what it accepts round-trips and keeps
// floors to uid 0.
func FuzzParseRecord(f *testing.F) {
	for _, b := range recordSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.marshal(), b) {
			t.Fatalf("%x does not round-trip", b)
		}
		if (r.UID == 0) != (r.State == stateFloor) {
			t.Fatalf("%x: state %d for uid %d", b, r.State, r.UID)
		}
	})
}
