package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestCheckSchema: CheckSchema reads the schema version without changing
// anything: none before the first Open (a missing SQLite file is not
// created), the build's after it, ErrSchemaNewer for a newer one; an
// unreachable server or a file that is no database is an error.
func TestCheckSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			st, err := store.CheckSchema(ctx, dsn)
			if err != nil || st.Version != 0 || st.Want != store.SchemaVersion() {
				t.Fatalf("before Open: %+v %v", st, err)
			}
			if backend == "sqlite" {
				if st.Exists {
					t.Fatal("a missing file reported as existing")
				}
				if _, err := os.Stat(dsn); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("CheckSchema created the database file: %v", err)
				}
			}
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if st, err = store.CheckSchema(ctx, dsn); err != nil || !st.Exists || st.Version != store.SchemaVersion() {
				t.Fatalf("after Open: %+v %v", st, err)
			}
			driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[backend]
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (99)`); err != nil {
				t.Fatal(err)
			}
			if st, err = store.CheckSchema(ctx, dsn); !errors.Is(err, store.ErrSchemaNewer) || st.Version != 99 {
				t.Fatalf("newer schema: %+v %v", st, err)
			}
		})
	}
	notDB := filepath.Join(t.TempDir(), "fleet.db")
	os.WriteFile(notDB, []byte("this is not a database, but long enough to look like one's header"), 0o600)
	if _, err := store.CheckSchema(ctx, notDB); err == nil {
		t.Fatal("a file that is no database passed")
	}
	if _, err := store.CheckSchema(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"); err == nil {
		t.Fatal("an unreachable PostgreSQL passed")
	}
}
