package psa

import "testing"

// TestLifetimeLocation: the lifetime macros of the PSA Crypto API
// (PSA_KEY_LIFETIME_FROM_PERSISTENCE_AND_LOCATION, _GET_LOCATION) on the
// values the C header gives.
func TestLifetimeLocation(t *testing.T) {
	for _, c := range []struct {
		l          Lifetime
		want       Lifetime
		location   uint32
		persistent bool
	}{
		{LifetimeFromPersistenceAndLocation(LifetimeVolatile, LocationLocalStorage), 0x00000000, 0, false},
		{LifetimeFromPersistenceAndLocation(LifetimePersistent, LocationLocalStorage), 0x00000001, 0, true},
		{LifetimePersistentTPM, 0x80000101, 0x800001, true},
		{LifetimeFromPersistenceAndLocation(0x1234501, 0x000001), 0x00000101, 1, true}, // location bits of the persistence ignored
	} {
		if c.l != c.want || c.l.Location() != c.location || c.l.IsPersistent() != c.persistent {
			t.Errorf("0x%08x: want 0x%08x, location 0x%06x, persistent %v", uint32(c.l), uint32(c.want), c.location, c.persistent)
		}
	}
}
