package attest

import (
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// TestKeyFusesClaim: the release-key fuse claim survives signing and
// verification in every profile, under the same private-use key, appears
// in the JSON form with the keys' states by name, and is the only
// difference from the token without it (an added claim, nothing else).
func TestKeyFusesClaim(t *testing.T) {
	key := newKey(t, elliptic.P256())
	f := &KeyFuses{Pending: 0b10, Activated: 0b10, Retiring: 0b01, Revoked: 0b01}
	for _, p := range Profiles {
		t.Run(string(p), func(t *testing.T) {
			c := sampleClaims(p)
			c.InstanceID, _ = InstanceID(&key.PublicKey)
			plain, err := c.MarshalPayload()
			if err != nil {
				t.Fatal(err)
			}
			c.KeyFuses = f
			payload, err := c.MarshalPayload()
			if err != nil {
				t.Fatal(err)
			}
			var without, with map[int64]cbor.RawMessage
			if err := cbor.Unmarshal(plain, &without); err != nil {
				t.Fatal(err)
			}
			if err := cbor.Unmarshal(payload, &with); err != nil {
				t.Fatal(err)
			}
			if len(with) != len(without)+1 || with[KeyFusesClaim] == nil {
				t.Fatalf("the claim is not one added entry at %d: %d entries, %d before", KeyFusesClaim, len(with), len(without))
			}
			for k, v := range without {
				if string(with[k]) != string(v) {
					t.Fatalf("claim %d changed by adding the key fuses", k)
				}
			}
			tok, err := Sign(c, key, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce})
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyFuses == nil || *got.KeyFuses != *f {
				t.Fatalf("verified key fuses %+v, want %+v", got.KeyFuses, f)
			}
			js, _ := json.Marshal(got)
			if !strings.Contains(string(js), `"release-key-fuses":{"pending":2,"activated":2,"retiring":1,"revoked":1,"statuses":"0:revoked 1:active"}`) {
				t.Fatalf("JSON: %s", js)
			}
			var back Claims
			if err := json.Unmarshal(js, &back); err != nil || !back.Equal(got) {
				t.Fatalf("JSON round trip: %v %+v", err, back.KeyFuses)
			}
		})
	}
}

// TestKeyFusesClaimRefused: a claim that is not a map, a fuse word that is
// not an unsigned integer or wider than 32 bits is refused; an unknown
// field inside it is ignored (a later bootloader may add fuse words).
func TestKeyFusesClaimRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		ok    bool
	}{
		{"not a map", []uint32{1, 2}, false},
		{"negative word", map[int64]any{1: -1}, false},
		{"text word", map[int64]any{2: "x"}, false},
		{"33-bit word", map[int64]any{4: uint64(1) << 32}, false},
		{"unknown field", map[int64]any{1: 1, 9: "later"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sampleClaimsWithID(t)
			payload, err := c.MarshalPayload()
			if err != nil {
				t.Fatal(err)
			}
			var m map[int64]any
			if err := cbor.Unmarshal(payload, &m); err != nil {
				t.Fatal(err)
			}
			m[KeyFusesClaim] = tc.value
			b, _ := encMode.Marshal(m)
			got, err := UnmarshalPayload(b)
			if tc.ok {
				if err != nil || got.KeyFuses == nil || got.KeyFuses.Pending != 1 {
					t.Fatalf("%+v %v", got, err)
				}
				return
			}
			var ce *ClaimError
			if !errors.As(err, &ce) || ce.Claim != nameKeyFuses {
				t.Fatalf("err %v, want a ClaimError naming %s", err, nameKeyFuses)
			}
		})
	}
}
