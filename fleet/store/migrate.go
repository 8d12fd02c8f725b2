package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are applied in order, once each; their index+1 is the schema
// version recorded in schema_version. {{blob}}, {{serial}} and {{real}} are
// replaced per dialect; everything else is SQL both databases accept.
var migrations = []string{
	// 1: initial schema.
	`CREATE TABLE devices (
		device_id TEXT PRIMARY KEY,
		instance_id {{blob}} NOT NULL UNIQUE,
		implementation_id {{blob}},
		public_key TEXT NOT NULL,
		state TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		comment TEXT NOT NULL DEFAULT '',
		manufacturer TEXT NOT NULL DEFAULT '',
		created_ms BIGINT NOT NULL,
		updated_ms BIGINT NOT NULL,
		enrolled_ms BIGINT NOT NULL DEFAULT 0,
		last_attested_ms BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE releases (
		digest {{blob}} PRIMARY KEY,
		sw_type TEXT NOT NULL,
		version TEXT NOT NULL,
		signer_id {{blob}} NOT NULL,
		hash_alg TEXT NOT NULL,
		size BIGINT NOT NULL,
		created_ms BIGINT NOT NULL,
		comment TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE certificates (
		serial TEXT PRIMARY KEY,
		device_id TEXT NOT NULL REFERENCES devices(device_id),
		not_before_ms BIGINT NOT NULL,
		not_after_ms BIGINT NOT NULL,
		revoked_ms BIGINT NOT NULL DEFAULT 0,
		der {{blob}} NOT NULL
	);
	CREATE INDEX certificates_device ON certificates(device_id);
	CREATE TABLE audit (
		id {{serial}},
		ts_ms BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		subject TEXT NOT NULL,
		decision TEXT NOT NULL,
		reason TEXT NOT NULL
	);
	CREATE INDEX audit_subject ON audit(subject, ts_ms);
	CREATE TABLE telemetry (
		device_id TEXT NOT NULL,
		metric TEXT NOT NULL,
		ts_ms BIGINT NOT NULL,
		value {{real}} NOT NULL
	);
	CREATE INDEX telemetry_device_metric_ts ON telemetry(device_id, metric, ts_ms);
	CREATE INDEX telemetry_ts ON telemetry(ts_ms);`,
	// 2: firmware update campaigns (fleet/campaign) and content-addressed
	// release images.
	`CREATE TABLE release_images (
		sha256 TEXT PRIMARY KEY,
		digest {{blob}} NOT NULL,
		sw_type TEXT NOT NULL,
		security_counter BIGINT NOT NULL,
		data {{blob}} NOT NULL,
		created_ms BIGINT NOT NULL
	);
	CREATE TABLE campaigns (
		id TEXT PRIMARY KEY,
		spec TEXT NOT NULL,
		state TEXT NOT NULL,
		phase INTEGER NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		acked_failures INTEGER NOT NULL DEFAULT 0,
		created_ms BIGINT NOT NULL,
		updated_ms BIGINT NOT NULL
	);
	CREATE TABLE campaign_devices (
		campaign_id TEXT NOT NULL REFERENCES campaigns(id),
		device_id TEXT NOT NULL,
		phase INTEGER NOT NULL,
		status TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		notified_ms BIGINT NOT NULL DEFAULT 0,
		updated_ms BIGINT NOT NULL,
		PRIMARY KEY (campaign_id, device_id)
	);`,
	// 3: telemetry stored per batch and per series chunk instead of per
	// sample (telemetry.go); migrateTelemetryRows then carries the rows of
	// the old table over and drops it. {{bytetext}} makes PostgreSQL sort
	// ids and metrics in byte order, as SQLite and Go do: Points merges
	// chunks (sorted by the database) with pending batches (sorted in Go).
	`CREATE TABLE telemetry_batches (
		id {{serial}},
		t_min BIGINT NOT NULL,
		t_max BIGINT NOT NULL,
		n INTEGER NOT NULL,
		data {{blob}} NOT NULL
	);
	CREATE TABLE telemetry_chunks (
		id {{serial}},
		device_id {{bytetext}} NOT NULL,
		metric {{bytetext}} NOT NULL,
		t_min BIGINT NOT NULL,
		t_max BIGINT NOT NULL,
		n INTEGER NOT NULL,
		data {{blob}} NOT NULL
	);
	CREATE INDEX telemetry_chunks_series ON telemetry_chunks(device_id, metric, t_min);
	CREATE INDEX telemetry_chunks_t_min ON telemetry_chunks(t_min);`,
	// 4: leases (lease.go): which node runs a background loop (the campaign
	// evaluator, telemetry maintenance), with the epoch that fences its
	// writes.
	`CREATE TABLE leases (
		name TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		epoch BIGINT NOT NULL,
		expires_ms BIGINT NOT NULL
	);`,
	// 5: campaigns written by several nodes (fleet/campaign): a version
	// that every state write checks and increments (an operator's action
	// and the evaluator's transition cannot overwrite each other), and an
	// index for the evaluator's read of the device rows changed since its
	// last tick.
	`ALTER TABLE campaigns ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX campaign_devices_updated ON campaign_devices(campaign_id, updated_ms);`,
	// 6: the fleet CA shared by the nodes of a cluster (ca.go): its
	// certificate and its key, encrypted under the CA passphrase as in
	// the key file. One row at most.
	`CREATE TABLE fleet_ca (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		cert_pem TEXT NOT NULL,
		key_pem TEXT NOT NULL,
		created_ms BIGINT NOT NULL
	);`,
	// 7: indexes for the console's device list and overview at 100,000
	// devices (docs/console.md, Performance): a state filter, with or
	// without a manufacturer, read in ID order and counted from the index;
	// a manufacturer filter; last seen. And the verified claims of the
	// attestation each certificate was issued on (JSON; '' for rows of
	// older builds, which insert without it). Older builds never read them.
	`ALTER TABLE certificates ADD COLUMN claims TEXT NOT NULL DEFAULT '';
	CREATE INDEX devices_state_manufacturer ON devices(state, manufacturer, device_id);
	CREATE INDEX devices_manufacturer ON devices(manufacturer, device_id);
	CREATE INDEX devices_last_attested ON devices(last_attested_ms);`,
	// 8: enrollment nonces used, recorded in the enrollment's own
	// transaction (RecordEnrollmentWithNonce): single use across every
	// node of a cluster without a round trip of its own. Rows are kept
	// until the nonce expires (PruneUsedNonces).
	`CREATE TABLE used_nonces (
		nonce {{blob}} PRIMARY KEY,
		expires_ms BIGINT NOT NULL
	);
	CREATE INDEX used_nonces_expires ON used_nonces(expires_ms);`,
	// 9: ownership and CA rotation (ownership.go, carotation.go,
	// docs/ownership-and-rotation.md): the fleet's owner key (sealed under
	// a secret derived from the CA key; one row at most), each
	// device's voucher, with the serial a replayed voucher must exceed
	// and, once released, the transfer that hands it on; the fleet CA's
	// latest rotation (one row at most).
	`CREATE TABLE ownership_key (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		key_pem TEXT NOT NULL,
		created_ms BIGINT NOT NULL
	);
	CREATE TABLE ownership_vouchers (
		device_id TEXT PRIMARY KEY,
		serial BIGINT NOT NULL,
		voucher {{blob}} NOT NULL,
		released_serial BIGINT NOT NULL DEFAULT 0,
		transfer_id TEXT NOT NULL DEFAULT '',
		transfer_nonce {{blob}},
		updated_ms BIGINT NOT NULL
	);
	CREATE TABLE ca_rotation (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		generation INTEGER NOT NULL,
		cert_pem TEXT NOT NULL,
		key_pem TEXT NOT NULL,
		prev_cert_pem TEXT NOT NULL,
		cross_pem TEXT NOT NULL,
		emergency INTEGER NOT NULL DEFAULT 0,
		rate INTEGER NOT NULL,
		state TEXT NOT NULL,
		started_ms BIGINT NOT NULL,
		activated_ms BIGINT NOT NULL DEFAULT 0,
		retired_ms BIGINT NOT NULL DEFAULT 0
	);`,
	// 10: the CA whose key derives the server's sealing secrets once an
	// emergency rotation replaced the original (caseal.go,
	// docs/ownership-and-rotation.md; one row at most).
	`CREATE TABLE ca_seal (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		generation INTEGER NOT NULL,
		cert_pem TEXT NOT NULL,
		key_pem TEXT NOT NULL,
		sealed_ms BIGINT NOT NULL
	);`,
}

// migrationCode runs Go code inside a migration's transaction, after its
// SQL, where SQL alone cannot do the work. Keyed by schema version.
var migrationCode = map[int]func(ctx context.Context, s *DB, t *sql.Tx) error{
	3: migrateTelemetryRows,
}

func (s *DB) sub(m string) string {
	r := strings.NewReplacer(
		"{{blob}}", map[Dialect]string{SQLite: "BLOB", Postgres: "BYTEA"}[s.dialect],
		"{{serial}}", map[Dialect]string{SQLite: "INTEGER PRIMARY KEY AUTOINCREMENT", Postgres: "BIGSERIAL PRIMARY KEY"}[s.dialect],
		"{{real}}", map[Dialect]string{SQLite: "REAL", Postgres: "DOUBLE PRECISION"}[s.dialect],
		"{{bytetext}}", map[Dialect]string{SQLite: "TEXT", Postgres: `TEXT COLLATE "C"`}[s.dialect],
	)
	return r.Replace(m)
}

// SchemaVersion is the number of migrations this build knows.
func SchemaVersion() int { return len(migrations) }

func (s *DB) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo applies the migrations up to schema version last (tests start
// from older schemas with it).
func (s *DB) migrateTo(ctx context.Context, last int) error {
	if err := s.migrateVersionTable(ctx); err != nil {
		return err
	}
	v, cf, err := readSchema(ctx, s.dialect, s.sql)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := checkCompatible(v, cf); err != nil {
		return err
	}
	for i := v; i < last; i++ {
		err := s.tx(ctx, func(t *sql.Tx) error {
			// Another node may have applied it while this one waited
			// for the lock (schema.go).
			if err := s.lockMigrations(ctx, t); err != nil {
				return err
			}
			if cur, _, err := readSchema(ctx, s.dialect, t); err != nil {
				return err
			} else if cur > i {
				return nil
			}
			for _, stmt := range strings.Split(s.sub(migrations[i]), ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := t.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migration %d: %w", i+1, err)
				}
			}
			if code := migrationCode[i+1]; code != nil {
				if err := code(ctx, s, t); err != nil {
					return fmt.Errorf("store: migration %d: %w", i+1, err)
				}
			}
			_, err := s.exec(ctx, t, `INSERT INTO schema_version (version, compatible_from) VALUES (?, ?)`, i+1, compatibleFrom(i+1))
			return err
		})
		if err != nil {
			return err
		}
	}
	s.schemaVersion, s.schemaCompatFrom, err = readSchema(ctx, s.dialect, s.sql)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}
