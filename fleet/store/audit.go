package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Decisions recorded in the audit log.
const (
	Allow = "allow"
	Deny  = "deny"
)

// AuditEntry is one decision and its reason.
type AuditEntry struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`   // "device:<id>", "token:<name>", "remote:<addr>"
	Action   string    `json:"action"`  // "enroll", "renew", "mqtt.connect", "device.suspend", ...
	Subject  string    `json:"subject"` // device id, release digest, ...
	Decision string    `json:"decision"`
	Reason   string    `json:"reason"`
}

// insertAudit appends e inside t (on its own when t is nil), with a
// prepared statement: every enrollment writes one.
func (s *DB) insertAudit(ctx context.Context, t *sql.Tx, e *AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if _, err := s.execPrepared(ctx, t, qInsertAudit, ms(e.Time), e.Actor, e.Action, e.Subject, e.Decision, e.Reason); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

const qInsertAudit = `INSERT INTO audit (ts_ms, actor, action, subject, decision, reason) VALUES (?,?,?,?,?,?)`

// Audit appends e to the audit log, durably, before it returns. Entries
// written concurrently (refused enrollments, refused MQTT connections,
// admin actions) share the enrollments' group commit: one transaction and
// one sync for all of them, so a burst of refusals costs one commit per
// batch instead of one each.
func (s *DB) Audit(ctx context.Context, e *AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return s.groupCommit(ctx, &enrollReq{audit: e, done: make(chan error, 1)})
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Subject  string
	Action   string
	Decision string
	Since    time.Time
	Limit    int // 0 means 1000
}

// AuditLog returns matching entries, newest first.
func (s *DB) AuditLog(ctx context.Context, f AuditFilter) ([]*AuditEntry, error) {
	query := `SELECT id, ts_ms, actor, action, subject, decision, reason FROM audit WHERE ts_ms >= ?`
	args := []any{ms(f.Since)}
	if f.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.Decision != "" {
		query += ` AND decision = ?`
		args = append(args, f.Decision)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit)
	rows, err := s.sql.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []*AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Subject, &e.Decision, &e.Reason); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		e.Time = fromMS(t)
		out = append(out, &e)
	}
	return out, rows.Err()
}
