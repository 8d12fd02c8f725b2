package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Schema forward compatibility (docs/scale-out.md, "Rolling upgrade").
//
// During a rolling upgrade two server versions share one database: the
// first upgraded node migrates the schema, and the nodes not yet upgraded
// must keep running on it. Each row of schema_version therefore records,
// besides the version a migration reached, compatible_from: the oldest
// schema version whose builds still run correctly on this schema. A build
// that knows schema N accepts a database at version V > N when the row of V
// has compatible_from <= N, and refuses it otherwise with ErrSchemaNewer.
//
// A migration that only adds what older builds never read (a new table, a
// new column with a default, a new index) keeps compatibility: it is listed
// in keepsCompatibility and its compatible_from is its predecessor's. Any
// other migration (a column dropped, renamed or retyped, data moved) has
// compatible_from equal to its own version. The promise is one release:
// a release's migrations must keep compatibility with the release before.

// keepsCompatibility lists the schema versions whose migration builds of
// the previous version can ignore (additive only). Versions 1 to 3 predate
// the rule and are not listed (builds of them refuse any newer schema).
// 4 (leases), 6 (fleet_ca) and 8 (used_nonces) add tables older builds
// never read, 7 only indexes and a column older builds never read; 5 adds
// the campaign version column every state write must check and increment,
// which a build without it would not: not compatible. 8 (used_nonces) and
// 9 (ownership_key, ownership_vouchers, ca_rotation) add tables older
// builds never read (an older build ignores a CA rotation:
// docs/ownership-and-rotation.md). 10 (ca_seal) adds a table older builds
// never read; after an emergency rotation an older build cannot open the
// owner key and refuses to start (it ignores the rotation anyway).
var keepsCompatibility = map[int]bool{4: true, 6: true, 7: true, 8: true, 9: true, 10: true}

// compatibleFrom is the compatible_from recorded for schema version v.
func compatibleFrom(v int) int {
	for v > 1 && keepsCompatibility[v] {
		v--
	}
	return v
}

// migrationLock serialises the migrations of nodes starting together on
// one PostgreSQL database (a transaction-scoped advisory lock; its key is
// arbitrary but fixed: "rampart" in ASCII).
const migrationLock = 0x72616d70617274

// lockMigrations takes the migration lock for the transaction t
// (PostgreSQL; SQLite transactions are already exclusive: _txlock=immediate).
func (s *DB) lockMigrations(ctx context.Context, t *sql.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	return nil
}

// migrateVersionTable creates schema_version, or adds compatible_from to
// the table an older build made (rows it wrote get their own version:
// those migrations predate the rule).
func (s *DB) migrateVersionTable(ctx context.Context) error {
	// Already current: write nothing, so that a server still starts (and
	// reports itself unhealthy) on a database it cannot write.
	if has, err := hasCompatibleFrom(ctx, s.dialect, s.sql); err == nil && has {
		var old int
		if s.sql.QueryRowContext(ctx, `SELECT count(*) FROM schema_version WHERE compatible_from = 0`).Scan(&old) == nil && old == 0 {
			return nil
		}
	}
	return s.tx(ctx, func(t *sql.Tx) error {
		if err := s.lockMigrations(ctx, t); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, compatible_from INTEGER NOT NULL DEFAULT 0)`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		has, err := hasCompatibleFrom(ctx, s.dialect, t)
		if err != nil {
			return err
		}
		if !has {
			if _, err := t.ExecContext(ctx, `ALTER TABLE schema_version ADD COLUMN compatible_from INTEGER NOT NULL DEFAULT 0`); err != nil {
				return fmt.Errorf("store: migrate: schema_version: %w", err)
			}
		}
		if _, err := t.ExecContext(ctx, `UPDATE schema_version SET compatible_from = version WHERE compatible_from = 0`); err != nil {
			return fmt.Errorf("store: migrate: schema_version: %w", err)
		}
		return nil
	})
}

// hasCompatibleFrom reports whether schema_version has its compatible_from
// column (read-only: CheckSchema uses it on a database it must not change).
func hasCompatibleFrom(ctx context.Context, d Dialect, q execer) (bool, error) {
	query := `SELECT count(*) FROM pragma_table_info('schema_version') WHERE name = 'compatible_from'`
	if d == Postgres {
		query = `SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_version' AND column_name = 'compatible_from'`
	}
	var n int
	if err := q.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return false, fmt.Errorf("store: schema_version: %w", err)
	}
	return n > 0, nil
}

// readSchema returns the newest recorded schema version and its
// compatible_from (the version itself where none is recorded: a row an
// older build wrote, or a database without the column).
func readSchema(ctx context.Context, d Dialect, q execer) (version, compatFrom int, err error) {
	has, err := hasCompatibleFrom(ctx, d, q)
	if err != nil {
		return 0, 0, err
	}
	query := `SELECT version, 0 FROM schema_version ORDER BY version DESC LIMIT 1`
	if has {
		query = `SELECT version, compatible_from FROM schema_version ORDER BY version DESC LIMIT 1`
	}
	err = q.QueryRowContext(ctx, query).Scan(&version, &compatFrom)
	if err == sql.ErrNoRows {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: read schema version: %w", err)
	}
	if compatFrom <= 0 || compatFrom > version {
		compatFrom = version
	}
	return version, compatFrom, nil
}

// checkCompatible decides whether this build (schema SchemaVersion) may run
// on a database at version whose migrations need at least compatFrom.
func checkCompatible(version, compatFrom int) error {
	own := SchemaVersion()
	if version <= own || compatFrom <= own {
		return nil
	}
	return fmt.Errorf("%w: the database is at schema version %d, which needs a build of schema version %d or later; this build has %d: upgrade this rampart binary (docs/scale-out.md, \"Rolling upgrade\")",
		ErrSchemaNewer, version, compatFrom, own)
}

// Schema reports the database's schema version when it was opened and the
// oldest schema version that can run on it. A version above SchemaVersion
// means a newer build migrated the database and this one runs on it under
// the one-release compatibility rule.
func (s *DB) Schema() (version, compatFrom int) { return s.schemaVersion, s.schemaCompatFrom }

// CheckCompatible reads the schema version again and fails with
// ErrSchemaNewer when another node has since migrated the database to a
// schema this build cannot run on (its /readyz then answers 503: the node
// should be upgraded). It costs one query.
func (s *DB) CheckCompatible(ctx context.Context) error {
	v, cf, err := readSchema(ctx, s.dialect, s.sql)
	if err != nil {
		return err
	}
	return checkCompatible(v, cf)
}
