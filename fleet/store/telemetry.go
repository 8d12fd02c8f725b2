package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Telemetry lives in two tables (migration 3, docs/fleet-admin-api.md):
//
//   - telemetry_batches: one row per InsertPoints call, the samples encoded
//     together (telemetry_codec.go). Ingest costs one row, one index entry
//     and one commit per batch, whatever its size: that commit is the
//     durability point that acknowledgements wait for.
//   - telemetry_chunks: one row per series (device, metric) and stretch of
//     time, samples sorted, written by CompactTelemetry from the batches in
//     one transaction that also deletes those batches.
//
// Every read (Points, CountPoints, LatestTelemetry) merges both tables
// inside one snapshot, so a sample is seen exactly once whether or not it
// has been compacted yet.

// Point is one telemetry sample.
type Point struct {
	DeviceID string    `json:"device_id"`
	Metric   string    `json:"metric"`
	Time     time.Time `json:"time"`
	Value    float64   `json:"value"`
}

// batchRowPoints is the most samples InsertPoints puts in one row
// (maxBatchPoints; tests lower it to exercise the split).
var batchRowPoints = maxBatchPoints

// InsertPoints stores points in one transaction: all or none. Points must
// have a device id and a metric name (1..4096 bytes) and a finite value.
func (s *DB) InsertPoints(ctx context.Context, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	type row struct {
		data       []byte
		tMin, tMax int64
		n          int
	}
	var rows []row
	for len(points) > 0 {
		n := min(len(points), batchRowPoints)
		data, tMin, tMax, err := encodeBatch(points[:n])
		if err != nil {
			return err
		}
		rows = append(rows, row{data, tMin, tMax, n})
		points = points[n:]
	}
	const ins = `INSERT INTO telemetry_batches (t_min, t_max, n, data) VALUES (?, ?, ?, ?)`
	if len(rows) == 1 {
		// One statement is atomic and commits on its own: no BEGIN/COMMIT
		// round trips.
		if _, err := s.exec(ctx, s.sql, ins, rows[0].tMin, rows[0].tMax, rows[0].n, rows[0].data); err != nil {
			return fmt.Errorf("store: insert telemetry: %w", err)
		}
		return nil
	}
	return s.tx(ctx, func(t *sql.Tx) error {
		for _, r := range rows {
			if _, err := s.exec(ctx, t, ins, r.tMin, r.tMax, r.n, r.data); err != nil {
				return fmt.Errorf("store: insert telemetry: %w", err)
			}
		}
		return nil
	})
}

// PointQuery selects telemetry; empty fields match everything, From is
// inclusive and To exclusive.
type PointQuery struct {
	DeviceID string
	Metric   string
	From, To time.Time
	Limit    int // 0 means 100000
}

// snapshot runs f in a transaction that sees one consistent state of both
// telemetry tables (a compaction committing between two reads would
// otherwise show a sample twice or not at all), then rolls it back.
// SQLite: a read transaction on the read-only pool, whose snapshot (WAL)
// is fixed at its first read, so queries neither wait for nor block the
// writer (a compaction pass holds it for seconds); PostgreSQL: REPEATABLE
// READ.
func (s *DB) snapshot(ctx context.Context, f func(*sql.Tx) error) error {
	var o *sql.TxOptions
	if s.dialect == Postgres {
		o = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	db := s.rd
	if db == nil { // a DB built without Open (tests)
		db = s.sql
	}
	t, err := db.BeginTx(ctx, o)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer t.Rollback()
	return f(t)
}

// CountPoints returns the number of stored samples.
func (s *DB) CountPoints(ctx context.Context) (int64, error) {
	var total int64
	err := s.snapshot(ctx, func(t *sql.Tx) error {
		for _, table := range []string{"telemetry_chunks", "telemetry_batches"} {
			var n int64
			if err := t.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM `+table).Scan(&n); err != nil {
				return fmt.Errorf("store: count telemetry: %w", err)
			}
			total += n
		}
		return nil
	})
	return total, err
}

// DeletePointsBefore removes samples older than t (retention) and returns
// how many it removed. It is exact: a chunk or batch wholly older is
// deleted, one straddling t is rewritten without its older samples; all in
// one transaction.
func (s *DB) DeletePointsBefore(ctx context.Context, t time.Time) (int64, error) {
	cut := ms(t)
	var removed int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		removed = 0
		for _, table := range []string{"telemetry_chunks", "telemetry_batches"} {
			var n int64
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(n), 0) FROM `+table+` WHERE t_min < ? AND t_max < ?`), cut, cut).Scan(&n); err != nil {
				return fmt.Errorf("store: retention: %w", err)
			}
			if _, err := s.exec(ctx, tx, `DELETE FROM `+table+` WHERE t_min < ? AND t_max < ?`, cut, cut); err != nil {
				return fmt.Errorf("store: retention: %w", err)
			}
			removed += n
		}
		n, err := s.trimChunks(ctx, tx, cut)
		if err != nil {
			return err
		}
		removed += n
		n, err = s.trimBatches(ctx, tx, cut)
		removed += n
		return err
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

type blobRow struct {
	id, n int64
	data  []byte
}

// straddling reads the rows of table holding samples on both sides of cut
// (the wholly older ones are already deleted).
func (s *DB) straddling(ctx context.Context, tx *sql.Tx, table string, cut int64) ([]blobRow, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, n, data FROM `+table+` WHERE t_min < ?`), cut)
	if err != nil {
		return nil, fmt.Errorf("store: retention: %w", err)
	}
	defer rows.Close()
	var out []blobRow
	for rows.Next() {
		var r blobRow
		if err := rows.Scan(&r.id, &r.n, &r.data); err != nil {
			return nil, fmt.Errorf("store: retention: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// trimChunks rewrites the chunks straddling cut without their samples
// older than cut.
func (s *DB) trimChunks(ctx context.Context, tx *sql.Tx, cut int64) (int64, error) {
	list, err := s.straddling(ctx, tx, "telemetry_chunks", cut)
	if err != nil {
		return 0, err
	}
	if retentionFault != nil {
		retentionFault("chunks read")
	}
	var removed int64
	for _, r := range list {
		ts, vs, err := decodeChunk(r.data)
		if err != nil {
			return 0, fmt.Errorf("store: retention: chunk %d: %w", r.id, err)
		}
		i := 0
		for i < len(ts) && ts[i] < cut {
			i++
		}
		if i == len(ts) { // cannot happen: t_max >= cut
			continue
		}
		data, err := encodeChunk(ts[i:], vs[i:])
		if err != nil {
			return 0, err
		}
		// Conditional on what was read: on PostgreSQL (READ COMMITTED) a
		// compaction may have merged samples into this chunk since; writing
		// the trimmed old contents back would drop them. The next run retries.
		if err := s.rewriteIfUnchanged(ctx, tx, `UPDATE telemetry_chunks SET t_min = ?, n = ?, data = ? WHERE id = ? AND n = ? AND data = ?`,
			ts[i], len(ts)-i, data, r.id, r.n, r.data); err != nil {
			return 0, err
		}
		removed += int64(i)
	}
	return removed, nil
}

// trimBatches rewrites the pending batches straddling cut without their
// samples older than cut.
func (s *DB) trimBatches(ctx context.Context, tx *sql.Tx, cut int64) (int64, error) {
	list, err := s.straddling(ctx, tx, "telemetry_batches", cut)
	if err != nil {
		return 0, err
	}
	var removed int64
	for _, r := range list {
		b, err := decodeBatch(r.data)
		if err != nil {
			return 0, fmt.Errorf("store: retention: batch %d: %w", r.id, err)
		}
		keep := make([]Point, 0, len(b.pts))
		for _, p := range b.pts {
			if p.ts >= cut {
				keep = append(keep, Point{DeviceID: b.dict[p.dev], Metric: b.dict[p.metric], Time: fromMS(p.ts), Value: p.v})
			}
		}
		data, tMin, tMax, err := encodeBatch(keep)
		if err != nil {
			return 0, err
		}
		// The compactor deletes a batch only if its n is unchanged, so a
		// concurrent compaction (PostgreSQL) of this batch fails and retries
		// instead of moving the samples removed here.
		if err := s.rewriteIfUnchanged(ctx, tx, `UPDATE telemetry_batches SET t_min = ?, t_max = ?, n = ?, data = ? WHERE id = ? AND n = ? AND data = ?`,
			tMin, tMax, len(keep), data, r.id, r.n, r.data); err != nil {
			return 0, err
		}
		removed += int64(len(b.pts) - len(keep))
	}
	return removed, nil
}

// retentionFault, when set by a test, runs at named points of a retention
// pass (to interleave a concurrent compaction).
var retentionFault func(step string)

// rewriteIfUnchanged runs a retention UPDATE conditional on the row being
// as read, and fails with ErrConflict when another writer changed it.
func (s *DB) rewriteIfUnchanged(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := s.exec(ctx, tx, query, args...)
	if err != nil {
		return fmt.Errorf("store: retention: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: retention: %w", err)
	} else if n != 1 {
		return fmt.Errorf("store: retention: a row changed while it was trimmed: %w", ErrConflict)
	}
	return nil
}

// LatestTelemetry returns each device's latest value of metric (of two
// samples at the same time, the one stored last).
func (s *DB) LatestTelemetry(ctx context.Context, metric string) (map[string]float64, error) {
	type latest struct {
		ts int64
		v  float64
	}
	best := map[string]latest{}
	err := s.snapshot(ctx, func(t *sql.Tx) error {
		// Chunks first: pending batches are newer, so they win ties.
		rows, err := t.QueryContext(ctx, s.q(`SELECT c.device_id, c.data FROM telemetry_chunks c
			JOIN (SELECT device_id, MAX(t_max) AS m FROM telemetry_chunks WHERE metric = ? GROUP BY device_id) l
			ON c.device_id = l.device_id AND c.t_max = l.m WHERE c.metric = ? ORDER BY c.id`), metric, metric)
		if err != nil {
			return fmt.Errorf("store: latest telemetry: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var dev string
			var data []byte
			if err := rows.Scan(&dev, &data); err != nil {
				return fmt.Errorf("store: latest telemetry: %w", err)
			}
			ts, vs, err := decodeChunk(data)
			if err != nil {
				return fmt.Errorf("store: latest telemetry: %w", err)
			}
			last := len(ts) - 1
			if b, ok := best[dev]; !ok || ts[last] >= b.ts {
				best[dev] = latest{ts[last], vs[last]}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: latest telemetry: %w", err)
		}
		rows.Close()
		return s.eachBatch(ctx, t, "", func(b *batch) error {
			m, ok := b.lookup(metric)
			if !ok {
				return nil
			}
			for _, p := range b.pts {
				if p.metric != m {
					continue
				}
				dev := b.dict[p.dev]
				if l, ok := best[dev]; !ok || p.ts >= l.ts {
					best[dev] = latest{p.ts, p.v}
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(best))
	for d, l := range best {
		out[d] = l.v
	}
	return out, nil
}

// eachBatch decodes the pending batches (oldest first) matching the SQL
// condition cond (with args), and calls f with each.
func (s *DB) eachBatch(ctx context.Context, x execer, cond string, f func(*batch) error, args ...any) error {
	rows, err := x.QueryContext(ctx, s.q(`SELECT id, data FROM telemetry_batches WHERE 1=1`+cond+` ORDER BY id`), args...)
	if err != nil {
		return fmt.Errorf("store: telemetry batches: %w", err)
	}
	defer rows.Close()
	// Read them all before decoding: PostgreSQL cannot run another
	// statement on the transaction's connection while rows are open.
	var list []blobRow
	for rows.Next() {
		var r blobRow
		if err := rows.Scan(&r.id, &r.data); err != nil {
			return fmt.Errorf("store: telemetry batches: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: telemetry batches: %w", err)
	}
	rows.Close()
	for _, r := range list {
		b, err := decodeBatch(r.data)
		if err != nil {
			return fmt.Errorf("store: telemetry batch %d: %w", r.id, err)
		}
		if err := f(b); err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the dictionary index of s.
func (b *batch) lookup(s string) (uint32, bool) {
	for i, d := range b.dict {
		if d == s {
			return uint32(i), true
		}
	}
	return 0, false
}
