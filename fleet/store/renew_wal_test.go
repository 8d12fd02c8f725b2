package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rampart/fleet/store"
)

// TestRenewalLeavesStateIndexAlone: recording a certificate for a device
// that is active and stays active (from = [Active]) writes fewer WAL pages
// than the same enrollment allowed from two states, because it does not
// write the state column (SQLite rewrites an index entry whenever its
// column is named in the UPDATE, even with its own value). Both run on the
// same device, each after a checkpoint that empties the WAL, so the other
// pages they write (device row, certificate, its index) are the same. On
// the old code both wrote the state and the counts were equal.
func TestRenewalLeavesStateIndexAlone(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Enough devices that the state index has many pages.
	const n = 300
	now := time.Now().UTC().Truncate(time.Millisecond)
	serial := 0
	record := func(id string, from ...store.State) {
		t.Helper()
		serial++
		c := &store.Certificate{Serial: fmt.Sprintf("%06d", serial), DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}}
		if err := db.RecordEnrollment(ctx, c, from, nil); err != nil {
			t.Fatalf("enrollment of %s from %v: %v", id, from, err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("d%04d", i)
		if _, err := db.PutEndorsement(ctx, dev(id)); err != nil {
			t.Fatal(err)
		}
		record(id, store.Registered, store.Active)
	}
	framesOf := func(from ...store.State) int64 {
		t.Helper()
		if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		record("d0150", from...)
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return (fi.Size() - 32) / (4096 + 24)
	}
	// Warm-up: the first supersessions revoke older certificates and grow
	// the tables; from the third enrollment on each kind writes the same.
	framesOf(store.Active)
	framesOf(store.Registered, store.Active)
	framesOf(store.Active)
	renew := min(framesOf(store.Active), framesOf(store.Active))
	reenroll := min(framesOf(store.Registered, store.Active), framesOf(store.Registered, store.Active))
	if renew >= reenroll {
		t.Errorf("renewal of an active device wrote %d WAL pages, an enrollment allowed from registered or active %d: want fewer", renew, reenroll)
	}
	d, err := db.Device(ctx, "d0150")
	if err != nil || d.State != store.Active {
		t.Fatalf("after renewal: %+v, %v", d, err)
	}
}
