package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Test-only access to the store's internals (this file is compiled into the
// store's tests only).

// OpenAtVersion opens dsn with the migrations applied up to version v only,
// so that a test can fill an old schema and then Open (migrate) it.
func OpenAtVersion(ctx context.Context, dsn string, v int) (*DB, error) {
	d, drv, src := SQLite, "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d, drv, src = Postgres, "pgx", dsn
	}
	raw, err := sql.Open(drv, src)
	if err != nil {
		return nil, err
	}
	if d == SQLite {
		raw.SetMaxOpenConns(1)
	}
	s := &DB{sql: raw, dialect: d, now: time.Now}
	if err := s.migrateTo(ctx, v); err != nil {
		raw.Close()
		return nil, err
	}
	return s, nil
}

// ExecSQL runs one statement (?-placeholders) on the store's database.
func (s *DB) ExecSQL(ctx context.Context, query string, args ...any) error {
	_, err := s.exec(ctx, s.sql, query, args...)
	return err
}

// QueryInt64 runs a one-value query.
func (s *DB) QueryInt64(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.sql.QueryRowContext(ctx, s.q(query), args...).Scan(&n)
	return n, err
}

// SetCompactFault installs f as the compaction fault hook until the
// returned function is called.
func SetCompactFault(f func(step string) error) (restore func()) {
	old := compactFault
	compactFault = f
	return func() { compactFault = old }
}

// SetRetentionFault installs f as the retention hook until the returned
// function is called.
func SetRetentionFault(f func(step string)) (restore func()) {
	old := retentionFault
	retentionFault = f
	return func() { retentionFault = old }
}

// SetBatchRowPoints lowers the samples InsertPoints puts in one row until
// the returned function is called.
func SetBatchRowPoints(n int) (restore func()) {
	old := batchRowPoints
	batchRowPoints = n
	return func() { batchRowPoints = old }
}

// Codec entry points for the external tests.
var (
	EncodeBatch = func(p []Point) ([]byte, error) { b, _, _, err := encodeBatch(p); return b, err }
	DecodeBatch = func(b []byte) (int, error) {
		d, err := decodeBatch(b)
		if err != nil {
			return 0, err
		}
		return len(d.pts), nil
	}
)

// CreateLegacyTelemetry creates table name with the per-sample schema and
// indexes of migration 1 (the benchmark's baseline).
func (s *DB) CreateLegacyTelemetry(ctx context.Context, name string) error {
	for _, q := range []string{
		`CREATE TABLE ` + name + ` (device_id TEXT NOT NULL, metric TEXT NOT NULL, ts_ms BIGINT NOT NULL, value ` + s.sub("{{real}}") + ` NOT NULL)`,
		`CREATE INDEX ` + name + `_dmt ON ` + name + `(device_id, metric, ts_ms)`,
		`CREATE INDEX ` + name + `_ts ON ` + name + `(ts_ms)`,
	} {
		if _, err := s.sql.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// InsertPointsRows is the per-sample InsertPoints of migrations 1 and 2
// (one row per sample, prepared 200-row INSERTs, one transaction), into
// table name: the baseline the batch store is measured against.
func (s *DB) InsertPointsRows(ctx context.Context, name string, points []Point) error {
	const per = 200
	full, err := s.sql.PrepareContext(ctx, s.q(legacyInsert(name, per)))
	if err != nil {
		return err
	}
	defer full.Close()
	args := make([]any, 0, 4*per)
	return s.tx(ctx, func(t *sql.Tx) error {
		for len(points) > 0 {
			n := min(len(points), per)
			args = args[:0]
			for _, p := range points[:n] {
				args = append(args, p.DeviceID, p.Metric, ms(p.Time), p.Value)
			}
			var err error
			if n == per {
				_, err = t.StmtContext(ctx, full).ExecContext(ctx, args...)
			} else {
				_, err = s.exec(ctx, t, legacyInsert(name, n), args...)
			}
			if err != nil {
				return fmt.Errorf("legacy insert: %w", err)
			}
			points = points[n:]
		}
		return nil
	})
}

func legacyInsert(name string, n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO ` + name + ` (device_id, metric, ts_ms, value) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	return b.String()
}

// PointsRows is the per-sample Points of migrations 1 and 2 over table
// name (the benchmark's baseline); it honours DeviceID, Metric, From, To.
func (s *DB) PointsRows(ctx context.Context, name string, q PointQuery) ([]Point, error) {
	query := `SELECT device_id, metric, ts_ms, value FROM ` + name + ` WHERE device_id = ? AND metric = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY device_id, metric, ts_ms LIMIT 100000`
	rows, err := s.sql.QueryContext(ctx, s.q(query), q.DeviceID, q.Metric, ms(q.From), ms(q.To))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var t int64
		if err := rows.Scan(&p.DeviceID, &p.Metric, &t, &p.Value); err != nil {
			return nil, err
		}
		p.Time = fromMS(t)
		out = append(out, p)
	}
	return out, rows.Err()
}
