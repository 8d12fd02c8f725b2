package store_test

import (
	"context"
	"errors"
	"testing"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestVoucherSerials: a device's voucher is recorded only with a serial
// newer than every one the fleet used for it (owned by or released with);
// a release needs a newer serial than the one owned by; a device that
// comes back with a newer voucher is owned again.
func TestVoucherSerials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.PutVoucher(ctx, "dev", 1, []byte("v1"), nil); err != nil {
			t.Fatal(err)
		}
		if err := db.PutVoucher(ctx, "dev", 1, []byte("v1 again"), nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the same serial again: %v", err)
		}
		if err := db.ReleaseVoucher(ctx, "dev", 1, "transfer-1", []byte("n"), nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("released with a serial not newer: %v", err)
		}
		if err := db.ReleaseVoucher(ctx, "other", 2, "transfer-1", []byte("n"), nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("released without a voucher: %v", err)
		}
		if err := db.ReleaseVoucher(ctx, "dev", 2, "transfer-1", []byte("n"), &store.AuditEntry{Action: "ownership.release", Subject: "dev"}); err != nil {
			t.Fatal(err)
		}
		r, err := db.Voucher(ctx, "dev")
		if err != nil || r.Serial != 1 || r.ReleasedSerial != 2 || r.TransferID != "transfer-1" || string(r.TransferNonce) != "n" {
			t.Fatalf("after the release: %+v %v", r, err)
		}
		if err := db.PutVoucher(ctx, "dev", 2, []byte("v2"), nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the voucher it was released with imported back: %v", err)
		}
		if err := db.PutVoucher(ctx, "dev", 3, []byte("v3"), nil); err != nil {
			t.Fatalf("a newer voucher (the device comes back): %v", err)
		}
		if r, err := db.Voucher(ctx, "dev"); err != nil || r.Serial != 3 || r.ReleasedSerial != 0 || r.TransferID != "" {
			t.Fatalf("owned again: %+v %v", r, err)
		}
	})
}

// TestCARotationRecord: a rotation starts at generation 2, is refused while
// the latest is not retired (unless an emergency), and moves from staged to
// active to retired once each.
func TestCARotationRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.CARotation(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no rotation yet: %v", err)
		}
		r := &store.CARotation{Generation: 3, CertPEM: []byte("c"), KeyPEM: []byte("k"), PrevCertPEM: []byte("p"), CrossPEM: []byte("x"), Rate: 600}
		if err := db.StartCARotation(ctx, r, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("generation 3 first: %v", err)
		}
		r.Generation = 2
		if err := db.StartCARotation(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		r.Generation = 3
		if err := db.StartCARotation(ctx, r, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a rotation while one is staged: %v", err)
		}
		for _, step := range [][2]string{{store.RotationStaged, store.RotationActive}, {store.RotationActive, store.RotationRetired}} {
			moved, err := db.AdvanceCARotation(ctx, 2, step[0], step[1], nil)
			if err != nil || !moved {
				t.Fatalf("%s -> %s: %v %v", step[0], step[1], moved, err)
			}
			if moved, _ := db.AdvanceCARotation(ctx, 2, step[0], step[1], nil); moved {
				t.Fatalf("%s -> %s twice", step[0], step[1])
			}
		}
		got, err := db.CARotation(ctx)
		if err != nil || got.State != store.RotationRetired || got.Activated.IsZero() || got.Retired.IsZero() || string(got.CrossPEM) != "x" {
			t.Fatalf("rotation: %+v %v", got, err)
		}
		if err := db.StartCARotation(ctx, r, nil); err != nil {
			t.Fatalf("generation 3 after 2 retired: %v", err)
		}
	})
}
