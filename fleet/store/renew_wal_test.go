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
		emptyWAL(t, raw, path)
		record("d0150", from...)
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return (fi.Size() - 32) / (4096 + 24)
	}
	// Warm-up: the first supersessions revoke older certificates and grow
	// the tables; from the third enrollment on each kind writes about the
	// same.
	framesOf(store.Active)
	framesOf(store.Registered, store.Active)
	framesOf(store.Active)
	// One enrollment's count moves by a page either way from run to run
	// (the rows' timestamps differ in length, so page boundaries move),
	// so the two kinds are compared over several interleaved enrollments:
	// the renewal must save at least half a page on average. On the old
	// code both wrote the state and the sums came out within a page or two.
	const rounds = 15
	var renew, reenroll int64
	for range rounds {
		renew += framesOf(store.Active)
		reenroll += framesOf(store.Registered, store.Active)
	}
	if reenroll-renew < rounds/2 {
		t.Errorf("%d renewals of an active device wrote %d WAL pages, %d enrollments allowed from registered or active %d: want at least %d fewer", rounds, renew, rounds, reenroll, rounds/2)
	}
	t.Logf("WAL pages over %d enrollments: renewal %d, allowed from registered or active %d", rounds, renew, reenroll)
	d, err := db.Device(ctx, "d0150")
	if err != nil || d.State != store.Active {
		t.Fatalf("after renewal: %+v, %v", d, err)
	}
}

// emptyWAL checkpoints the WAL and truncates it to nothing, retrying while
// a reader keeps the checkpoint from finishing. PRAGMA wal_checkpoint
// reports "busy" in its result row, not as an error: a checkpoint that
// was busy left the file at its largest size, and the next write reused
// it from the start, so the sizes of two enrollments came out equal.
func emptyWAL(t *testing.T, raw *sql.DB, path string) {
	t.Helper()
	for range 500 {
		var busy, logFrames, done int64
		if err := raw.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if busy == 0 && (os.IsNotExist(err) || err == nil && fi.Size() == 0) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the WAL could not be checkpointed to empty in 5 s")
}
