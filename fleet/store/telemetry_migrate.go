package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrateTelemetryRows (migration 3) carries every row of the per-sample
// table of migration 1 into chunks, series by series, then drops that
// table. It runs inside the migration's transaction: a failure leaves the
// old table and the schema version as they were.
func migrateTelemetryRows(ctx context.Context, s *DB, t *sql.Tx) error {
	rows, err := t.QueryContext(ctx, `SELECT DISTINCT device_id, metric FROM telemetry`)
	if err != nil {
		return fmt.Errorf("carry telemetry: %w", err)
	}
	var series [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return fmt.Errorf("carry telemetry: %w", err)
		}
		series = append(series, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("carry telemetry: %w", err)
	}
	for _, k := range series {
		ts, vs, err := s.legacySeries(ctx, t, k[0], k[1])
		if err != nil {
			return err
		}
		err = splitChunks(ts, vs, func(ts []int64, vs []float64) error {
			blob, err := encodeChunk(ts, vs)
			if err != nil {
				return err
			}
			_, err = s.exec(ctx, t, `INSERT INTO telemetry_chunks (device_id, metric, t_min, t_max, n, data) VALUES (?, ?, ?, ?, ?, ?)`,
				k[0], k[1], ts[0], ts[len(ts)-1], len(ts), blob)
			return err
		})
		if err != nil {
			return fmt.Errorf("carry telemetry of %s/%s: %w", k[0], k[1], err)
		}
	}
	if _, err := t.ExecContext(ctx, `DROP TABLE telemetry`); err != nil {
		return fmt.Errorf("carry telemetry: %w", err)
	}
	return nil
}

// legacySeries reads one series of the old table, sorted by time.
func (s *DB) legacySeries(ctx context.Context, t *sql.Tx, dev, metric string) ([]int64, []float64, error) {
	rows, err := t.QueryContext(ctx, s.q(`SELECT ts_ms, value FROM telemetry WHERE device_id = ? AND metric = ? ORDER BY ts_ms`), dev, metric)
	if err != nil {
		return nil, nil, fmt.Errorf("carry telemetry: %w", err)
	}
	defer rows.Close()
	var ts []int64
	var vs []float64
	for rows.Next() {
		var t int64
		var v float64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, nil, fmt.Errorf("carry telemetry: %w", err)
		}
		ts, vs = append(ts, t), append(vs, v)
	}
	return ts, vs, rows.Err()
}
