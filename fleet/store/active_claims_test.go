package store_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestActiveDeviceClaims: the release-key rotation's status
// (fleet/trust RetiringKey) reads what every active device last attested
// in one query, on both backends: the claims of its live certificate,
// byte for byte (a renewal's replace the enrollment's), "" for an active
// device whose certificate has none or was revoked (it counts as holding
// every key), and nothing for a suspended, decommissioned or never
// enrolled device.
func TestActiveDeviceClaims(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		ca, caKey := testCA(t, "fleet CA")
		serial := 0
		enroll := func(id, claims string, from store.State) string {
			t.Helper()
			serial++
			day := now.Add(24 * time.Hour)
			c := &store.Certificate{Serial: fmt.Sprintf("%02x", serial), DeviceID: id, NotBefore: now.Add(time.Duration(serial) * time.Second), NotAfter: day,
				DER: testLeaf(t, id, serial, ca, caKey, day), Claims: claims}
			if err := db.RecordEnrollment(ctx, c, []store.State{from}, nil); err != nil {
				t.Fatal(err)
			}
			return c.Serial
		}
		for i := range 7 {
			if _, err := db.PutEndorsement(ctx, dev(fmt.Sprint("d", i))); err != nil {
				t.Fatal(err)
			}
		}
		// Spacing, key order and a non-ASCII string kept as written.
		renewed := `{"release_keys": [{"fuse":2,"status":"revoked"}], "note":"ré"}`
		enroll("d0", `{"release_keys":[]}`, store.Registered)
		enroll("d0", renewed, store.Active)
		enroll("d1", "", store.Registered)
		sn := enroll("d2", `{"release_keys":[{"fuse":1}]}`, store.Registered)
		if err := db.RevokeCertificates(ctx, []string{sn}, nil); err != nil {
			t.Fatal(err)
		}
		enroll("d3", `{"x":3}`, store.Registered)
		if _, _, err := db.SetState(ctx, "d3", store.Suspended, "lost", nil); err != nil {
			t.Fatal(err)
		}
		enroll("d4", `{"x":4}`, store.Registered)
		if _, _, err := db.SetState(ctx, "d4", store.Decommissioned, "end of life", nil); err != nil {
			t.Fatal(err)
		}
		enroll("d5", `{"x":5}`, store.Registered)
		// d6 never enrolled.

		got, err := db.ActiveDeviceClaims(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"d0": renewed, "d1": "", "d2": "", "d5": `{"x":5}`}
		if !maps.Equal(got, want) {
			t.Fatalf("ActiveDeviceClaims = %q\nwant %q", got, want)
		}
	})
}
