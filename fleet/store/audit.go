package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	if _, err := s.execPrepared(ctx, t, qInsertAudit, ms(e.Time), AuditText(e.Actor, maxAuditActor), AuditText(e.Action, maxAuditAction),
		AuditText(e.Subject, maxAuditSubject), AuditText(e.Decision, maxAuditDecision), AuditText(e.Reason, maxAuditReason)); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Bounds of the audit fields, in bytes. Values come from requests (paths,
// addresses, certificate names): longer ones are cut, and the subject
// stays well under PostgreSQL's limit on an index entry (about 2,700
// bytes), which refused the row before.
const (
	maxAuditActor    = 256
	maxAuditAction   = 256
	maxAuditSubject  = 512
	maxAuditDecision = 16
	maxAuditReason   = 4096
)

// AuditText makes s storable and readable the same way on SQLite and
// PostgreSQL (every audit field is written through it; callers quoting
// client data inside a reason or a log line use it too, so that there is
// one sanitizer): bytes that are not UTF-8 become U+FFFD, NUL and the other
// control characters but tab and newline are written \xNN (PostgreSQL
// refuses NUL in text; the others would only hide or garble what a viewer
// shows), and a value longer than max bytes is cut on a character
// boundary with a note of how much was cut.
func AuditText(s string, max int) string {
	clean := utf8.ValidString(s)
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
			clean = false
		}
	}
	if clean && len(s) <= max {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= max {
		return out
	}
	note := max >= 64 // room for "…[N bytes cut]"
	cut := max
	if note {
		cut -= 24
	}
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	if !note {
		return out[:cut]
	}
	return out[:cut] + "…[" + strconv.Itoa(len(out)-cut) + " bytes cut]"
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
	// Filters are cleaned as stored values are, so they match the same
	// rows on both databases (and a NUL is no database error).
	if f.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, AuditText(f.Subject, maxAuditSubject))
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, AuditText(f.Action, maxAuditAction))
	}
	if f.Decision != "" {
		query += ` AND decision = ?`
		args = append(args, AuditText(f.Decision, maxAuditDecision))
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

// auditDeleteBatch bounds the rows one retention transaction deletes, so
// that a large deletion never holds SQLite's write lock for long (a
// variable for the tests).
var auditDeleteBatch = 10000

// DeleteAuditBefore deletes the audit entries older than t, oldest first,
// in transactions of at most 10,000 rows, and returns how many it deleted.
func (s *DB) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.deleteAuditBatches(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE ts_ms < ? ORDER BY id LIMIT `+strconv.Itoa(auditDeleteBatch)+`)`, ms(t))
}

// TrimAudit deletes the oldest audit entries beyond the newest keep (keep
// at least 1), and returns how many it deleted.
func (s *DB) TrimAudit(ctx context.Context, keep int) (int64, error) {
	if keep < 1 {
		return 0, fmt.Errorf("store: trim audit: keep %d: want at least 1", keep)
	}
	var cut int64
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?`), keep-1).Scan(&cut)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: trim audit: %w", err)
	}
	return s.deleteAuditBatches(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id < ? ORDER BY id LIMIT `+strconv.Itoa(auditDeleteBatch)+`)`, cut)
}

func (s *DB) deleteAuditBatches(ctx context.Context, query string, arg any) (int64, error) {
	var total int64
	for {
		res, err := s.exec(ctx, s.sql, query, arg)
		if err != nil {
			return total, fmt.Errorf("store: audit retention: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: audit retention: %w", err)
		}
		total += n
		if n < int64(auditDeleteBatch) {
			return total, nil
		}
	}
}

// CountAudit returns the number of audit entries.
func (s *DB) CountAudit(ctx context.Context) (int64, error) {
	var n int64
	if err := s.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count audit: %w", err)
	}
	return n, nil
}
