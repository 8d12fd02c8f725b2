package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrSchemaNewer: the database was migrated by a newer build than this one.
var ErrSchemaNewer = errors.New("store: database schema newer than this build")

// SchemaStatus is what CheckSchema found.
type SchemaStatus struct {
	Dialect Dialect
	// Exists is false for a SQLite file that does not exist yet (Open
	// creates it).
	Exists bool
	// Version is the schema version recorded in the database (0: none
	// yet); Want is this build's (SchemaVersion).
	Version, Want int
	// CompatibleFrom is the oldest schema version whose builds run on
	// the database (schema.go): a Version above Want is accepted when
	// CompatibleFrom <= Want.
	CompatibleFrom int
}

// CheckSchema connects to the database named by dsn (as Open would) and
// reads its schema version without changing anything: no file is created,
// nothing is migrated, a SQLite file is opened read-only. It fails when the
// database cannot be reached or read, and with ErrSchemaNewer when its
// schema is newer than this build's and not compatible with it (Open would
// refuse it; schema.go).
func CheckSchema(ctx context.Context, dsn string) (*SchemaStatus, error) {
	st := &SchemaStatus{Want: SchemaVersion(), Exists: true}
	var (
		db    *sql.DB
		err   error
		exist string // query: does schema_version exist?
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		st.Dialect = Postgres
		db, err = sql.Open("pgx", dsn)
		exist = `SELECT to_regclass('schema_version') IS NOT NULL`
	case dsn == "" || dsn == ":memory:":
		return nil, fmt.Errorf("store: dsn: need a file path or a postgres:// URL, got %q", dsn)
	default:
		st.Dialect = SQLite
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			st.Exists = false
			return st, nil
		} else if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		db, err = sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		exist = `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	defer db.Close()
	var has bool
	if err := db.QueryRowContext(ctx, exist).Scan(&has); err != nil {
		return nil, fmt.Errorf("store: check: %w", err)
	}
	if has {
		if st.Version, st.CompatibleFrom, err = readSchema(ctx, st.Dialect, db); err != nil {
			return nil, fmt.Errorf("store: check: %w", err)
		}
	}
	if err := checkCompatible(st.Version, st.CompatibleFrom); err != nil {
		return st, err
	}
	return st, nil
}
