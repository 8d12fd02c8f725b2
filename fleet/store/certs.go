package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Certificate is an issued device certificate.
type Certificate struct {
	Serial    string    `json:"serial"` // lower-case hex
	DeviceID  string    `json:"device_id"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Revoked   time.Time `json:"revoked,omitzero"`
	DER       []byte    `json:"der"`
	// Claims are the verified claims of the attestation the certificate
	// was issued on (JSON, written by the enrollment service), stored with
	// it; read by CertificateClaims only, not by the certificate reads of
	// every connection.
	Claims string `json:"-"`
	// Superseded is set by RecordEnrollment: how many earlier valid
	// certificates of the device its transaction revoked. Zero (a first
	// enrollment, or one after every certificate was revoked) means no
	// session anywhere can be using a certificate this one supersedes, so
	// there is nothing to end (enroll.Config.OnIssued is not called).
	Superseded int64 `json:"-"`
}

// RecordEnrollment stores an issued certificate and makes the device active,
// with its audit entry, in one transaction, provided the device is still in
// one of the states in from (ErrConflict otherwise). The device's earlier
// certificates are revoked in the same transaction: a device holds one
// valid certificate, its newest (renewal supersedes). The certificate must be
// returned to the device only after this succeeds: a crash before the commit
// leaves no trace, after it the certificate is on record.
//
// Concurrent calls are committed together (group commit): one transaction,
// and so one durable sync, for every enrollment waiting at that moment. Each
// call still returns only after the transaction holding its certificate has
// committed, and a device whose state does not allow it is refused on its
// own without failing the others.
func (s *DB) RecordEnrollment(ctx context.Context, c *Certificate, from []State, audit *AuditEntry) error {
	return s.groupCommit(ctx, &enrollReq{c: c, from: from, audit: audit, done: make(chan error, 1)})
}

// ErrNonceUsed: the enrollment nonce was recorded as used before
// (RecordEnrollmentWithNonce).
var ErrNonceUsed = errors.New("store: nonce already used")

// RecordEnrollmentWithNonce is RecordEnrollment that also records nonce
// (an enrollment nonce's identity, valid until expires) as used, first, in
// the same transaction: ErrNonceUsed, with nothing written, when any
// enrollment recorded it before. Every node of a cluster writes to the one
// database, whose primary key makes the use single: of two transactions
// inserting one nonce the second waits for the first and then finds the
// row (or, if the first rolled back, inserts it).
func (s *DB) RecordEnrollmentWithNonce(ctx context.Context, nonce []byte, expires time.Time, c *Certificate, from []State, audit *AuditEntry) error {
	if len(nonce) == 0 {
		return errors.New("store: enrollment nonce required")
	}
	return s.groupCommit(ctx, &enrollReq{c: c, from: from, audit: audit, nonce: nonce, nonceExp: ms(expires), done: make(chan error, 1)})
}

// PruneUsedNonces deletes the used nonces that expired before now: an
// expired nonce is refused for its expiry, whether recorded or not.
func (s *DB) PruneUsedNonces(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.sql.ExecContext(ctx, s.q(`DELETE FROM used_nonces WHERE expires_ms < ?`), ms(now))
	if err != nil {
		return 0, fmt.Errorf("store: prune used nonces: %w", err)
	}
	return res.RowsAffected()
}

const qUseNonce = `INSERT INTO used_nonces (nonce, expires_ms) VALUES (?,?) ON CONFLICT DO NOTHING`

// groupCommit queues r for the next group transaction and waits for its
// outcome. The first request finding no commit loop running starts one on
// its own goroutine, which commits batches until none is waiting: no
// caller's answer waits for other callers' batches (when the caller itself
// led the loop, under steady load it stayed there, holding back one
// device's response for as long as others kept arriving).
func (s *DB) groupCommit(ctx context.Context, r *enrollReq) error {
	g := &s.enrollGroup
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if !g.leading {
		g.leading = true
		go s.commitLoop()
	}
	g.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The batch may still commit; the caller must treat the
		// enrollment as unknown, as after any timed-out commit.
		return ctx.Err()
	}
}

// commitLoop commits queued requests, up to maxEnrollBatch a transaction,
// until the queue is empty.
func (s *DB) commitLoop() {
	g := &s.enrollGroup
	g.mu.Lock()
	for len(g.pending) > 0 {
		batch := g.pending
		if len(batch) > maxEnrollBatch {
			batch = batch[:maxEnrollBatch]
		}
		g.pending = g.pending[len(batch):]
		g.mu.Unlock()
		s.commitEnrollments(context.Background(), batch)
		g.mu.Lock()
	}
	g.pending = nil
	g.leading = false
	g.mu.Unlock()
}

// maxEnrollBatch bounds one enrollment transaction.
const maxEnrollBatch = 256

// enrollReq is one request of the group commit: an enrollment, or an
// audit entry alone (c nil).
type enrollReq struct {
	c        *Certificate
	from     []State
	audit    *AuditEntry
	nonce    []byte // recorded as used first, when set
	nonceExp int64
	done     chan error
}

type enrollGroup struct {
	mu      sync.Mutex
	pending []*enrollReq
	leading bool
}

// commitEnrollments records batch in one transaction and answers each
// request once it has committed. If the transaction fails as a whole, each
// request is retried in a transaction of its own, so that one bad row (say
// a duplicate serial) fails only its own enrollment, with its own error.
//
// Only PostgreSQL's transaction gets a deadline (a network or server
// hang). SQLite's needs none: its waits for another process's lock end at
// busy_timeout (10 s), an interrupt cannot cut a sync short, and with a
// context that can be done the driver starts a goroutine to watch it for
// every statement (three per enrollment).
func (s *DB) commitEnrollments(ctx context.Context, batch []*enrollReq) {
	if s.dialect != SQLite {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	if len(batch) > 1 {
		results := make([]error, len(batch))
		err := s.tx(ctx, func(t *sql.Tx) error {
			for i, r := range batch {
				err := s.recordEnrollment(ctx, t, r)
				switch {
				case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound), errors.Is(err, ErrNonceUsed):
					results[i] = err // checked before any write: nothing to undo
				case err != nil:
					return err
				}
			}
			return nil
		})
		if err == nil {
			for i, r := range batch {
				r.done <- results[i]
			}
			return
		}
	}
	for _, r := range batch {
		r.done <- s.tx(ctx, func(t *sql.Tx) error { return s.recordEnrollment(ctx, t, r) })
	}
}

// recordEnrollment is one request's statements inside t. An audit-only
// request (no certificate; Audit) inserts its entry. Otherwise the device's
// state moves to active only if it is in one of r.from (one conditional
// UPDATE, so no separate read), then the certificate and the audit entry
// are inserted. All three are prepared statements. When the UPDATE matches
// no row nothing has been written, and the device is read once more only
// to say why (unknown device, or its state).
func (s *DB) recordEnrollment(ctx context.Context, t *sql.Tx, r *enrollReq) error {
	c := r.c
	if c == nil {
		return s.insertAudit(ctx, t, r.audit)
	}
	now := ms(s.now())
	if len(r.from) == 0 || len(r.from) > len(stateList) {
		return fmt.Errorf("store: enrollment of %s: %d allowed states: %w", c.DeviceID, len(r.from), ErrConflict)
	}
	if r.nonce != nil {
		// First, so that a nonce used before leaves nothing written.
		res, err := s.execPrepared(ctx, t, qUseNonce, r.nonce, r.nonceExp)
		if err != nil {
			return fmt.Errorf("store: record nonce: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: record nonce: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: enrollment of %s: %w", c.DeviceID, ErrNonceUsed)
		}
	}
	res, err := s.activate(ctx, t, c.DeviceID, r.from, now)
	if err != nil {
		return fmt.Errorf("store: activate: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: activate: %w", err)
	} else if n == 0 {
		var st string
		err := t.QueryRowContext(ctx, s.q(`SELECT state FROM devices WHERE device_id = ?`), c.DeviceID).Scan(&st)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: enrollment of %s: %w", c.DeviceID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: enrollment: %w", err)
		}
		return fmt.Errorf("store: enrollment of %s: device is %s: %w", c.DeviceID, st, ErrConflict)
	}
	if _, err := s.execPrepared(ctx, t, qInsertCert, c.Serial, c.DeviceID, ms(c.NotBefore), ms(c.NotAfter), c.DER, c.Claims); err != nil {
		return fmt.Errorf("store: record certificate: %w", err)
	}
	res, err = s.execPrepared(ctx, t, qSupersedeCerts, now, c.DeviceID, c.Serial)
	if err != nil {
		return fmt.Errorf("store: revoke superseded certificates: %w", err)
	}
	if c.Superseded, err = res.RowsAffected(); err != nil {
		return fmt.Errorf("store: revoke superseded certificates: %w", err)
	}
	if r.audit != nil {
		return s.insertAudit(ctx, t, r.audit)
	}
	return nil
}

const qInsertCert = `INSERT INTO certificates (serial, device_id, not_before_ms, not_after_ms, revoked_ms, der, claims) VALUES (?,?,?,?,0,?,?)`

// qSupersedeCerts revokes a device's certificates other than the one just
// recorded (through the certificates_device index).
const qSupersedeCerts = `UPDATE certificates SET revoked_ms = ? WHERE device_id = ? AND revoked_ms = 0 AND serial <> ?`

// stateList is every state, the most a from list can name.
var stateList = []State{Registered, Active, Suspended, Decommissioned}

// activate moves the device to active if its state is one of from. An
// active device that stays active (a renewal, a re-enrollment) has only its
// times written (qRenewActive): naming state in the UPDATE, even to its own
// value, makes SQLite delete and re-insert the device's entry in
// devices_state_manufacturer, one more index page written to the WAL and
// checkpointed per enrollment (about a sixth of an enrollment's pages).
func (s *DB) activate(ctx context.Context, t *sql.Tx, deviceID string, from []State, now int64) (sql.Result, error) {
	if len(from) == 1 && from[0] == Active {
		return s.execPrepared(ctx, t, qRenewActive, now, now, now, deviceID, string(Active))
	}
	args := make([]any, 0, 5+len(from))
	args = append(args, string(Active), now, now, now, deviceID)
	for _, f := range from {
		args = append(args, string(f))
	}
	return s.execPrepared(ctx, t, activateQuery[len(from)], args...)
}

// qRenewActive is activateQuery for a device that is active and stays so:
// the same columns but state, which it must already have.
const qRenewActive = `UPDATE devices SET reason = '', updated_ms = ?, enrolled_ms = ?, last_attested_ms = ? WHERE device_id = ? AND state = ?`

// activateQuery[n] moves a device to active if its state is one of n
// given states (n = 1..4): a fixed text per n, so each is prepared once.
var activateQuery = func() []string {
	q := make([]string, len(stateList)+1)
	for n := 1; n <= len(stateList); n++ {
		q[n] = `UPDATE devices SET state = ?, reason = '', updated_ms = ?, enrolled_ms = ?, last_attested_ms = ? WHERE device_id = ? AND state IN (?` + strings.Repeat(",?", n-1) + `)`
	}
	return q
}()

const certCols = `serial, device_id, not_before_ms, not_after_ms, revoked_ms, der`

func scanCert(r interface{ Scan(...any) error }) (*Certificate, error) {
	var c Certificate
	var nb, na, rv int64
	if err := r.Scan(&c.Serial, &c.DeviceID, &nb, &na, &rv, &c.DER); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("store: read certificate: %w", err)
	}
	c.NotBefore, c.NotAfter, c.Revoked = fromMS(nb), fromMS(na), fromMS(rv)
	return &c, nil
}

// Certificate returns the certificate with serial (lower-case hex).
func (s *DB) Certificate(ctx context.Context, serial string) (*Certificate, error) {
	return scanCert(s.sql.QueryRowContext(ctx, s.q(`SELECT `+certCols+` FROM certificates WHERE serial = ?`), serial))
}

// Certificates lists the certificates of a device, newest first.
func (s *DB) Certificates(ctx context.Context, deviceID string) ([]*Certificate, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT `+certCols+` FROM certificates WHERE device_id = ? ORDER BY not_before_ms DESC, serial`), deviceID)
	if err != nil {
		return nil, fmt.Errorf("store: list certificates: %w", err)
	}
	defer rows.Close()
	var out []*Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountCertificates returns the number of certificates on record.
func (s *DB) CountCertificates(ctx context.Context) (int, error) {
	var n int
	err := s.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n)
	return n, err
}

// CertificateClaims returns the attestation claims stored with each of the
// device's certificates, by serial (” for certificates issued by a build
// that did not store them).
func (s *DB) CertificateClaims(ctx context.Context, deviceID string) (map[string]string, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT serial, claims FROM certificates WHERE device_id = ?`), deviceID)
	if err != nil {
		return nil, fmt.Errorf("store: certificate claims: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var serial, claims string
		if err := rows.Scan(&serial, &claims); err != nil {
			return nil, fmt.Errorf("store: certificate claims: %w", err)
		}
		out[serial] = claims
	}
	return out, rows.Err()
}

// ActiveDeviceClaims returns, for every active device, the attestation
// claims stored with its newest certificate not revoked ("" when that
// certificate has none, or the device has no such certificate): what each
// device last attested, for the release-key rotation's status
// (fleet/trust RetiringKey). One query.
func (s *DB) ActiveDeviceClaims(ctx context.Context) (map[string]string, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT d.device_id, COALESCE(c.claims, ''), COALESCE(c.not_before_ms, 0) FROM devices d
		LEFT JOIN certificates c ON c.device_id = d.device_id AND c.revoked_ms = 0 WHERE d.state = ?`), string(Active))
	if err != nil {
		return nil, fmt.Errorf("store: active device claims: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	newest := map[string]int64{}
	for rows.Next() {
		var id, claims string
		var nb int64
		if err := rows.Scan(&id, &claims, &nb); err != nil {
			return nil, fmt.Errorf("store: active device claims: %w", err)
		}
		if old, seen := newest[id]; !seen || nb > old {
			out[id], newest[id] = claims, nb
		}
	}
	return out, rows.Err()
}
