package trust

import (
	"context"
	"fmt"
	"sort"

	"rampart/fleet/enroll"
	"rampart/fleet/store"
)

// RetiringKey is a release key being rotated out
// (docs/ownership-and-rotation.md, section 9): the fleet keeps trusting it
// for new releases while any active device may still need an image it
// signs, that is until every active device's last attestation reports
// its key fuse Fuse revoked (claim -76000, kept as release_keys in the
// certificate's claims record). Then it is retired: its releases are
// refused like those of a retired_release_keys entry. A device that never
// reported the claim (an older SPE, no bootloader device) counts as
// holding the key: the fleet cannot tell it no longer needs it.
type RetiringKey struct {
	Key  any    // the public (or private) key, as image.ParseKeyPEM returns it
	Name string // where it came from (its PEM file), for status and errors
	Fuse int    // its bit in the devices' key fuse words (0..31)
}

// KeyStatus is a retiring key's state now.
type KeyStatus struct {
	Name    string
	Fuse    int
	Holders []string // active devices not reporting it revoked, sorted
	Active  int      // active devices in all
}

// Retired reports whether every active device reported the key revoked.
func (s KeyStatus) Retired() bool { return len(s.Holders) == 0 }

// RetiringStatus reads what every active device last attested and returns
// each retiring key's holders.
func RetiringStatus(ctx context.Context, db *store.DB, keys []RetiringKey) ([]KeyStatus, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	claims, err := db.ActiveDeviceClaims(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyStatus, len(keys))
	for i, k := range keys {
		out[i] = KeyStatus{Name: k.Name, Fuse: k.Fuse, Active: len(claims), Holders: []string{}}
	}
	for id, c := range claims {
		fuses, known := enroll.RecordedKeyFuses(c)
		for i, k := range keys {
			if !known || fuses.Revoked&(1<<uint(k.Fuse)) == 0 {
				out[i].Holders = append(out[i].Holders, id)
			}
		}
	}
	for i := range out {
		sort.Strings(out[i].Holders)
	}
	return out, nil
}

// ReleaseKeysNow returns the keys a new release may be signed with and
// those whose releases are refused: trusted and retired as configured,
// plus each retiring key in the first while an active device holds it,
// in the second once none does.
func ReleaseKeysNow(ctx context.Context, db *store.DB, trusted, retired []any, retiring []RetiringKey) (keys, refused []any, err error) {
	if len(retiring) == 0 {
		return trusted, retired, nil
	}
	st, err := RetiringStatus(ctx, db, retiring)
	if err != nil {
		return nil, nil, fmt.Errorf("trust: retiring release keys: %w", err)
	}
	keys, refused = append([]any{}, trusted...), append([]any{}, retired...)
	for i, s := range st {
		if s.Retired() {
			refused = append(refused, retiring[i].Key)
		} else {
			keys = append(keys, retiring[i].Key)
		}
	}
	return keys, refused, nil
}
