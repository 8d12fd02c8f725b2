package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Point is one telemetry sample.
type Point struct {
	DeviceID string    `json:"device_id"`
	Metric   string    `json:"metric"`
	Time     time.Time `json:"time"`
	Value    float64   `json:"value"`
}

// maxRowsPerInsert keeps multi-row INSERTs under SQLite's and PostgreSQL's
// bound-parameter limits (4 parameters a row).
const maxRowsPerInsert = 200

// InsertPoints stores points in one transaction: all or none.
func (s *DB) InsertPoints(ctx context.Context, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	var full *sql.Stmt
	if len(points) >= maxRowsPerInsert {
		var err error
		if full, err = s.insertStmt(ctx); err != nil {
			return err
		}
	}
	args := make([]any, 0, 4*min(len(points), maxRowsPerInsert))
	return s.tx(ctx, func(t *sql.Tx) error {
		for len(points) > 0 {
			n := min(len(points), maxRowsPerInsert)
			args = args[:0]
			for _, p := range points[:n] {
				args = append(args, p.DeviceID, p.Metric, ms(p.Time), p.Value)
			}
			var err error
			if n == maxRowsPerInsert {
				_, err = t.StmtContext(ctx, full).ExecContext(ctx, args...)
			} else {
				_, err = s.exec(ctx, t, insertRows(n), args...)
			}
			if err != nil {
				return fmt.Errorf("store: insert telemetry: %w", err)
			}
			points = points[n:]
		}
		return nil
	})
}

// insertRows is a multi-row INSERT of n telemetry rows.
func insertRows(n int) string {
	var b strings.Builder
	b.Grow(64 + 10*n)
	b.WriteString(`INSERT INTO telemetry (device_id, metric, ts_ms, value) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	return b.String()
}

// insertStmt returns the prepared full-size INSERT, preparing it once: a
// big batch then costs no SQL parsing per chunk.
func (s *DB) insertStmt(ctx context.Context) (*sql.Stmt, error) {
	s.insMu.Lock()
	defer s.insMu.Unlock()
	if s.insFull != nil {
		return s.insFull, nil
	}
	st, err := s.sql.PrepareContext(ctx, s.q(insertRows(maxRowsPerInsert)))
	if err != nil {
		return nil, fmt.Errorf("store: prepare telemetry insert: %w", err)
	}
	s.insFull = st
	return st, nil
}

// PointQuery selects telemetry; empty fields match everything, From is
// inclusive and To exclusive.
type PointQuery struct {
	DeviceID string
	Metric   string
	From, To time.Time
	Limit    int // 0 means 100000
}

// Points returns matching samples ordered by device, metric and time.
func (s *DB) Points(ctx context.Context, q PointQuery) ([]Point, error) {
	query := `SELECT device_id, metric, ts_ms, value FROM telemetry WHERE 1=1`
	var args []any
	if q.DeviceID != "" {
		query += ` AND device_id = ?`
		args = append(args, q.DeviceID)
	}
	if q.Metric != "" {
		query += ` AND metric = ?`
		args = append(args, q.Metric)
	}
	if !q.From.IsZero() {
		query += ` AND ts_ms >= ?`
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		query += ` AND ts_ms < ?`
		args = append(args, ms(q.To))
	}
	if q.Limit <= 0 {
		q.Limit = 100000
	}
	query += fmt.Sprintf(` ORDER BY device_id, metric, ts_ms LIMIT %d`, q.Limit)
	rows, err := s.sql.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: query telemetry: %w", err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var t int64
		if err := rows.Scan(&p.DeviceID, &p.Metric, &t, &p.Value); err != nil {
			return nil, fmt.Errorf("store: query telemetry: %w", err)
		}
		p.Time = fromMS(t)
		out = append(out, p)
	}
	return out, rows.Err()
}

// CountPoints returns the number of stored samples.
func (s *DB) CountPoints(ctx context.Context) (int64, error) {
	var n int64
	err := s.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM telemetry`).Scan(&n)
	return n, err
}

// DeletePointsBefore removes samples older than t (retention) and returns
// how many it removed.
func (s *DB) DeletePointsBefore(ctx context.Context, t time.Time) (int64, error) {
	r, err := s.exec(ctx, s.sql, `DELETE FROM telemetry WHERE ts_ms < ?`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("store: retention: %w", err)
	}
	return r.RowsAffected()
}
