package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestSchemaForwardCompatible: a build runs on a database a newer build
// migrated when the newest schema_version row's compatible_from is at most
// its own version (fabricated here: a row one version ahead, compatible
// from this build's), and refuses one that needs a newer build with a
// message naming both versions; CheckSchema decides the same way.
func TestSchemaForwardCompatible(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	own := store.SchemaVersion()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if v, cf := db.Schema(); v != own || cf < 1 || cf > own {
				t.Fatalf("fresh database: schema %d compatible from %d, want %d and 1..%d", v, cf, own, own)
			}
			db.Close()
			raw := rawDB(t, backend, dsn)

			// A newer build's additive migration: this build runs on it.
			exec(t, raw, fmt.Sprintf(`INSERT INTO schema_version (version, compatible_from) VALUES (%d, %d)`, own+1, own))
			db, err = store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatalf("schema %d compatible from %d refused by a build of %d: %v", own+1, own, own, err)
			}
			if v, cf := db.Schema(); v != own+1 || cf != own {
				t.Fatalf("Schema() = %d, %d; want %d, %d", v, cf, own+1, own)
			}
			if err := db.CheckWritable(ctx); err != nil {
				t.Fatalf("write on the newer schema: %v", err)
			}
			db.Close()
			if st, err := store.CheckSchema(ctx, dsn); err != nil || st.Version != own+1 || st.CompatibleFrom != own {
				t.Fatalf("CheckSchema on a compatible newer schema: %+v %v", st, err)
			}
			var rows int
			raw.QueryRowContext(ctx, `SELECT count(*) FROM schema_version`).Scan(&rows)
			if rows != own+1 {
				t.Fatalf("%d schema_version rows, want %d: the older build wrote to a newer schema", rows, own+1)
			}

			// The next one needs the newer build.
			exec(t, raw, fmt.Sprintf(`INSERT INTO schema_version (version, compatible_from) VALUES (%d, %d)`, own+2, own+1))
			_, err = store.Open(ctx, dsn, store.Options{})
			want := fmt.Sprintf("schema version %d, which needs a build of schema version %d or later; this build has %d", own+2, own+1, own)
			if !errors.Is(err, store.ErrSchemaNewer) || !strings.Contains(err.Error(), want) {
				t.Fatalf("incompatible newer schema: %v; want ErrSchemaNewer saying %q", err, want)
			}
			if _, err := store.CheckSchema(ctx, dsn); !errors.Is(err, store.ErrSchemaNewer) {
				t.Fatalf("CheckSchema on an incompatible newer schema: %v", err)
			}
		})
	}
}

// TestSchemaVersionTableMigrated: the schema_version table an older build
// made (no compatible_from) gains the column, its rows their own version,
// and the database still opens.
func TestSchemaVersionTableMigrated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			raw := rawDB(t, backend, dsn)
			exec(t, raw, `ALTER TABLE schema_version DROP COLUMN compatible_from`)
			if st, err := store.CheckSchema(ctx, dsn); err != nil || st.Version != store.SchemaVersion() || st.CompatibleFrom != st.Version {
				t.Fatalf("CheckSchema on an old schema_version table: %+v %v", st, err)
			}
			if db, err = store.Open(ctx, dsn, store.Options{}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			var bad int
			if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM schema_version WHERE compatible_from <> version`).Scan(&bad); err != nil || bad != 0 {
				t.Fatalf("%d rows with another compatible_from (%v)", bad, err)
			}
		})
	}
}

// TestConcurrentMigration: nodes starting together on one empty database
// migrate it once (PostgreSQL: under an advisory lock) and all open it.
func TestConcurrentMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					db, err := store.Open(ctx, dsn, store.Options{})
					if err == nil {
						db.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			raw := rawDB(t, backend, dsn)
			var rows, distinct int
			raw.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_version`).Scan(&rows, &distinct)
			if rows != store.SchemaVersion() || distinct != rows {
				t.Fatalf("schema_version has %d rows (%d versions), want %d: a migration ran twice", rows, distinct, store.SchemaVersion())
			}
		})
	}
}

func rawDB(t *testing.T, backend, dsn string) *sql.DB {
	t.Helper()
	raw, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[backend], dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func exec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
