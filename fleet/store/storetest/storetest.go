// Package storetest opens fleet stores for tests: a SQLite file in the test's
// temporary directory, and a PostgreSQL database in a fresh schema when
// RAMPART_TEST_POSTGRES holds a DSN (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). It must never be
// imported by non-test code paths of the server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"rampart/fleet/store"
)

// EnvPostgres names the environment variable holding the PostgreSQL DSN.
const EnvPostgres = "RAMPART_TEST_POSTGRES"

// Backends are the names Each runs its subtests under.
var Backends = []string{"sqlite", "postgres"}

// Each runs f once per backend as a subtest; the postgres subtest is skipped
// with a message when RAMPART_TEST_POSTGRES is unset.
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) { f(t, Open(t, b, nil)) })
	}
}

// DSN returns a data source name for backend, creating a fresh PostgreSQL
// schema (dropped when the test ends) for "postgres".
func DSN(t testing.TB, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return filepath.Join(t.TempDir(), "fleet.db")
	case "postgres":
		return PostgresDSN(t)
	}
	t.Fatalf("storetest: unknown backend %q", backend)
	return ""
}

// PostgresDSN creates a fresh schema and returns a DSN whose search_path
// selects it; it skips the test when RAMPART_TEST_POSTGRES is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := testingGetenv(EnvPostgres)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", EnvPostgres)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "rampart_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store on backend, closed when the test ends.
func Open(t testing.TB, backend string, now func() time.Time) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), DSN(t, backend), store.Options{Now: now})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
