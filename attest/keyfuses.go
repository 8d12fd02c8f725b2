package attest

import (
	"math"
	"strconv"

	"rampart/internal/cborscan"
	"rampart/internal/keyfuse"
)

// KeyFusesClaim is the CBOR key of Rampart's release-key fuse claim, in
// the private-use range of the CWT/EAT claims registry (below -65536,
// clear of PSA_IOT_PROFILE_1's -75000..-75010), the same in every profile.
// A verifier that does not know it ignores it (RFC 9783 §4: unknown claims
// are ignored), so adding it keeps every token a valid TF-M/RFC 9783 token.
const KeyFusesClaim int64 = -76000

// nameKeyFuses is the claim's name in errors and JSON.
const nameKeyFuses = "release-key-fuses"

// KeyFuses is the state of the device's release-key fuses as its
// bootloader left them (docs/boot.md §7a): one bit per provisioned key,
// by its index, in each one-way word. Encoded as a map {1: pending, 2:
// activated, 3: retiring, 4: revoked} of unsigned integers (all four, in
// that order: deterministic encoding).
type KeyFuses struct {
	Pending   uint32 `json:"pending"`
	Activated uint32 `json:"activated"`
	Retiring  uint32 `json:"retiring"`
	Revoked   uint32 `json:"revoked"`
}

// KeyFuses field keys inside the claim's map.
const (
	keyFusePending   = 1
	keyFuseActivated = 2
	keyFuseRetiring  = 3
	keyFuseRevoked   = 4
)

// Status names key k's state: active, pending, retiring or revoked (the
// bootloader's names and rule, docs/boot.md §7a).
func (f *KeyFuses) Status(k int) string { return keyfuse.Words(*f).Status(k) }

// StatusList names the state of every key with a fuse programmed, "0:retiring
// 1:active"; a key without any (provisioned active at the factory) is
// active and not listed.
func (f *KeyFuses) StatusList() string {
	var out []byte
	any := f.Pending | f.Activated | f.Retiring | f.Revoked
	for k := range 32 {
		if any&(1<<uint(k)) == 0 {
			continue
		}
		if len(out) > 0 {
			out = append(out, ' ')
		}
		out = strconv.AppendInt(out, int64(k), 10)
		out = append(out, ':')
		out = append(out, f.Status(k)...)
	}
	return string(out)
}

// cborMap is the claim's value for the encoder.
func (f *KeyFuses) cborMap() map[int64]uint32 {
	return map[int64]uint32{keyFusePending: f.Pending, keyFuseActivated: f.Activated, keyFuseRetiring: f.Retiring, keyFuseRevoked: f.Revoked}
}

// Usable reports whether key k may sign images that boot (the
// bootloader's rule): not revoked, and not pending unless activated.
func (f *KeyFuses) Usable(k int) bool { return keyfuse.Words(*f).Usable(k) }

// decodeKeyFuses reads the claim: a map of at most 8 entries whose known
// fields are unsigned integers of 32 bits; unknown fields are ignored (a
// later bootloader may add fuse words), absent ones are 0.
func decodeKeyFuses(raw []byte) (*KeyFuses, error) {
	m, err := readMap(raw, nameKeyFuses, 8, nil)
	if err != nil {
		return nil, err
	}
	f := &KeyFuses{}
	for _, e := range []struct {
		key int64
		dst *uint32
	}{{keyFusePending, &f.Pending}, {keyFuseActivated, &f.Activated}, {keyFuseRetiring, &f.Retiring}, {keyFuseRevoked, &f.Revoked}} {
		v, ok := cborscan.Lookup(m, e.key)
		if !ok {
			continue
		}
		if major(v) != cborscan.Uint {
			return nil, wrongType(nameKeyFuses, v, "unsigned integer")
		}
		_, arg, _, _ := cborscan.Head(v)
		if arg > math.MaxUint32 {
			return nil, claimErr(nameKeyFuses, ErrClaimSyntax, "fuse word %d does not fit in 32 bits", e.key)
		}
		*e.dst = uint32(arg)
	}
	return f, nil
}
