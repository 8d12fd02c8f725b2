package transfer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/ownership"
)

// TestOwnerKeyStored: the owner key is made once, the same for every node
// of the store, sealed (the store does not hold it in clear) and opened
// only under the same secret.
func TestOwnerKeyStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		secret := bytes.Repeat([]byte{7}, 32)
		k1, err := LoadOwnerKey(ctx, db, secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := LoadOwnerKey(ctx, db, secret, nil)
		if err != nil || !k1.Equal(k2) {
			t.Fatalf("a second load gave another key (%v)", err)
		}
		sealed, err := db.OwnerKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := k1.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, d) {
			t.Fatal("the store holds the owner key in clear")
		}
		if _, err := LoadOwnerKey(ctx, db, bytes.Repeat([]byte{8}, 32), nil); err == nil {
			t.Fatal("the owner key opened under another secret")
		}
	})
}

// TestImportNeedsEndorsement: a voucher for a device whose endorsement
// was never imported is refused and audited.
func TestImportNeedsEndorsement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		owner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		s, err := New(Config{Store: db, Owner: owner, Manufacturers: map[string]*ecdsa.PublicKey{"m": &mfr.PublicKey}})
		if err != nil {
			t.Fatal(err)
		}
		v, err := ownership.Issue(mfr, append([]byte{1}, bytes.Repeat([]byte{9}, 32)...), &owner.PublicKey, ownership.Signing{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := v.Marshal()
		if _, err := s.Import(ctx, b, "test"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("voucher of an unknown device: %v", err)
		}
		if _, err := s.Import(ctx, []byte{0x80}, "test"); !errors.Is(err, ErrRefused) {
			t.Fatalf("malformed voucher: %v", err)
		}
		log, err := db.AuditLog(ctx, store.AuditFilter{Action: "ownership.import", Limit: 10})
		if err != nil || len(log) != 2 {
			t.Fatalf("audit: %d entries, %v", len(log), err)
		}
	})
}
