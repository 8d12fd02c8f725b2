package store_test

import (
	"context"
	"errors"
	"testing"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestActivateEmergencyAtomic: the activation of an emergency rotation
// writes the sealing CA, every re-sealed value and the state together or
// not at all: a value changed since it was read (or a campaign created)
// leaves the rotation staged with every value as it was, which is also
// what a crash before the commit leaves; a second activation writes
// nothing.
func TestActivateEmergencyAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := &store.CARotation{Generation: 2, CertPEM: []byte("c2"), KeyPEM: []byte("k2"), PrevCertPEM: []byte("p"), CrossPEM: []byte("x"), Emergency: true, Rate: 600}
		if err := db.StartCARotation(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b"} {
			if err := db.PutCampaign(ctx, &store.CampaignRecord{ID: id, Spec: "old " + id, State: "running"}, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.PutOwnerKeyIfAbsent(ctx, []byte("owner old")); err != nil {
			t.Fatal(err)
		}
		seal := &store.CASeal{Generation: 2, CertPEM: []byte("c2"), KeyPEM: []byte("k2")}
		good := store.Reseal{Campaigns: []store.ResealedSpec{{ID: "a", Old: "old a", New: "new a"}, {ID: "b", Old: "old b", New: "new b"}},
			OldOwnerKey: []byte("owner old"), OwnerKey: []byte("owner new")}
		stale := good
		stale.Campaigns = []store.ResealedSpec{good.Campaigns[0], {ID: "b", Old: "older b", New: "new b"}}
		missing := good
		missing.Campaigns = good.Campaigns[:1]
		ownerStale := good
		ownerStale.OldOwnerKey = []byte("owner older")
		for name, rs := range map[string]store.Reseal{"stale campaign": stale, "campaign not read": missing, "stale owner key": ownerStale} {
			if moved, err := db.ActivateEmergency(ctx, 2, seal, &rs, nil); !errors.Is(err, store.ErrConflict) || moved {
				t.Fatalf("%s: %v %v", name, moved, err)
			}
			assertUnsealed(t, db, "old a", "old b", "owner old", store.RotationStaged)
		}
		if moved, err := db.ActivateEmergency(ctx, 2, seal, &good, nil); err != nil || !moved {
			t.Fatalf("activate: %v %v", moved, err)
		}
		assertUnsealed(t, db, "new a", "new b", "owner new", store.RotationActive)
		if s, err := db.CASeal(ctx); err != nil || s.Generation != 2 || string(s.KeyPEM) != "k2" {
			t.Fatalf("sealing CA: %+v %v", s, err)
		}
		again := store.Reseal{Campaigns: []store.ResealedSpec{{ID: "a", Old: "new a", New: "x"}, {ID: "b", Old: "new b", New: "x"}}, OldOwnerKey: []byte("owner new"), OwnerKey: []byte("x")}
		if moved, err := db.ActivateEmergency(ctx, 2, seal, &again, nil); err != nil || moved {
			t.Fatalf("second activation: %v %v", moved, err)
		}
		assertUnsealed(t, db, "new a", "new b", "owner new", store.RotationActive)
	})
}

func assertUnsealed(t *testing.T, db *store.DB, a, b, owner, state string) {
	t.Helper()
	ctx := context.Background()
	for id, want := range map[string]string{"a": a, "b": b} {
		if c, err := db.Campaign(ctx, id); err != nil || c.Spec != want {
			t.Fatalf("campaign %s: %+v %v, want %q", id, c, err, want)
		}
	}
	if k, err := db.OwnerKey(ctx); err != nil || string(k) != owner {
		t.Fatalf("owner key %q %v, want %q", k, err, owner)
	}
	if r, err := db.CARotation(ctx); err != nil || r.State != state {
		t.Fatalf("rotation %+v %v, want %s", r, err, state)
	}
	if state == store.RotationStaged {
		if _, err := db.CASeal(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("sealing CA written by a failed activation: %v", err)
		}
	}
}
