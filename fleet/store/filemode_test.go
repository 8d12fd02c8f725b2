package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"rampart/fleet/store"
)

// TestSQLiteFilesPrivate: the database and its WAL and shared-memory files
// are 0600 under a permissive umask, whether Open creates them or finds them
// with a looser mode (a fleet.db created 0644 by an earlier version). They
// hold device identities, telemetry and campaign state.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.db")
	check := func(when string) {
		t.Helper()
		n := 0
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if os.IsNotExist(err) && p != path {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(p), st.Mode().Perm())
			}
		}
		if n < 2 && when == "open" {
			t.Errorf("%s: found %d of the database files; the WAL files were not checked", when, n)
		}
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutEndorsement(ctx, &store.Device{ID: "a", InstanceID: []byte("a"), PublicKeyPEM: "p"}); err != nil {
		t.Fatal(err)
	}
	check("open")
	db.Close()
	// An older version's files: 0644 database, 0644 side files.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(path+"-wal", nil, 0o644); err != nil { // left by a crash
		t.Fatal(err)
	}
	db, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Device(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	check("open")
}
