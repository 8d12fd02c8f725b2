package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CA rotation states (fleet, docs/ownership-and-rotation.md).
const (
	// RotationStaged: the successor CA is made and stored; nodes switch
	// to it when they start.
	RotationStaged = "staged"
	// RotationActive: a node switched: the successor issues, the
	// predecessor's certificates are still accepted (unless emergency).
	RotationActive = "active"
	// RotationRetired: no active device depends on the predecessor: it is
	// no longer accepted.
	RotationRetired = "retired"
)

// CARotation is the fleet CA's latest rotation: the CA in use since (its
// certificate and encrypted key), the one it succeeded and the cross
// certificate by which that one vouches for it.
type CARotation struct {
	Generation  int
	CertPEM     []byte // the successor's certificate
	KeyPEM      []byte // its key, encrypted under the CA passphrase
	PrevCertPEM []byte // the predecessor's certificate
	CrossPEM    []byte // the successor's key and name certified by the predecessor
	Emergency   bool   // the predecessor was untrusted at once
	Rate        int    // devices told to re-enroll per minute
	State       string
	Started     time.Time
	Activated   time.Time
	Retired     time.Time
}

// CARotation returns the latest rotation; ErrNotFound when the fleet CA
// was never rotated.
func (s *DB) CARotation(ctx context.Context) (*CARotation, error) {
	var r CARotation
	var cert, key, prev, cross string
	var em int
	var st, act, ret int64
	err := s.sql.QueryRowContext(ctx, `SELECT generation, cert_pem, key_pem, prev_cert_pem, cross_pem, emergency, rate, state, started_ms, activated_ms, retired_ms FROM ca_rotation WHERE id = 1`).
		Scan(&r.Generation, &cert, &key, &prev, &cross, &em, &r.Rate, &r.State, &st, &act, &ret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: CA rotation: %w", err)
	}
	r.CertPEM, r.KeyPEM, r.PrevCertPEM, r.CrossPEM, r.Emergency = []byte(cert), []byte(key), []byte(prev), []byte(cross), em != 0
	r.Started, r.Activated, r.Retired = fromMS(st), fromMS(act), fromMS(ret)
	return &r, nil
}

// StartCARotation records a new rotation (state staged) if the latest one
// is generation r.Generation-1 and retired (or there is none and
// r.Generation is 2), and an emergency rotation whatever the state of the
// latest; ErrConflict otherwise (a rotation under way, or another node
// started one meanwhile). The audit entry is written in the same
// transaction.
func (s *DB) StartCARotation(ctx context.Context, r *CARotation, audit *AuditEntry) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		var gen int
		var state string
		err := t.QueryRowContext(ctx, `SELECT generation, state FROM ca_rotation WHERE id = 1`).Scan(&gen, &state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if r.Generation != 2 {
				return fmt.Errorf("store: CA rotation: generation %d, want 2: %w", r.Generation, ErrConflict)
			}
		case err != nil:
			return fmt.Errorf("store: CA rotation: %w", err)
		case gen != r.Generation-1:
			return fmt.Errorf("store: CA rotation: generation %d follows %d: %w", r.Generation, gen, ErrConflict)
		case state != RotationRetired && !r.Emergency:
			return fmt.Errorf("store: CA rotation: generation %d is %s, not retired: %w", gen, state, ErrConflict)
		}
		em := 0
		if r.Emergency {
			em = 1
		}
		if _, err := s.exec(ctx, t, `DELETE FROM ca_rotation WHERE id = 1`); err != nil {
			return fmt.Errorf("store: CA rotation: %w", err)
		}
		if _, err := s.exec(ctx, t, `INSERT INTO ca_rotation (id, generation, cert_pem, key_pem, prev_cert_pem, cross_pem, emergency, rate, state, started_ms) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Generation, string(r.CertPEM), string(r.KeyPEM), string(r.PrevCertPEM), string(r.CrossPEM), em, r.Rate, RotationStaged, ms(s.now())); err != nil {
			return fmt.Errorf("store: CA rotation: %w", err)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

// AdvanceCARotation moves rotation generation gen from state from to
// state to (activated or retired now); it reports whether this call moved
// it (another node may have first).
func (s *DB) AdvanceCARotation(ctx context.Context, gen int, from, to string, audit *AuditEntry) (bool, error) {
	col := "activated_ms"
	if to == RotationRetired {
		col = "retired_ms"
	}
	moved := false
	err := s.tx(ctx, func(t *sql.Tx) error {
		r, err := s.exec(ctx, t, `UPDATE ca_rotation SET state = ?, `+col+` = ? WHERE id = 1 AND generation = ? AND state = ?`, to, ms(s.now()), gen, from)
		if err != nil {
			return fmt.Errorf("store: CA rotation: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: CA rotation: %w", err)
		}
		if moved = n == 1; moved && audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
	return moved, err
}

// LiveCertificates returns the serial, device and DER of every certificate
// neither revoked nor expired at now: what the CA rotation checks for
// certificates of the retiring CA.
func (s *DB) LiveCertificates(ctx context.Context, now time.Time) ([]*Certificate, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT serial, device_id, der FROM certificates WHERE revoked_ms = 0 AND not_after_ms > ?`), ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: certificates: %w", err)
	}
	defer rows.Close()
	var out []*Certificate
	for rows.Next() {
		var c Certificate
		if err := rows.Scan(&c.Serial, &c.DeviceID, &c.DER); err != nil {
			return nil, fmt.Errorf("store: certificates: %w", err)
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// RevokeCertificates revokes the given serials now (an emergency CA
// rotation revokes every certificate of the untrusted CA).
func (s *DB) RevokeCertificates(ctx context.Context, serials []string, audit *AuditEntry) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		now := ms(s.now())
		for _, sn := range serials {
			if _, err := s.exec(ctx, t, `UPDATE certificates SET revoked_ms = ? WHERE serial = ? AND revoked_ms = 0`, now, sn); err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

// RotationCounts counts, in one aggregate query, the active devices and
// those of them still holding a live certificate (not revoked, not
// expired at now) issued by the CA whose encoded subject name is issuer
// (x509.Certificate.RawSubject): the CA rotation's status, asked by
// operators and dashboards at any rate, without reading every device and
// certificate into the server as the rotation loop's list does. A
// certificate is the issuer's when its DER holds the issuer's encoded name
// (as its issuer field does): a successor CA has another name (ca.Rotate
// refuses the same one), and a device certificate's subject is its device
// ID, so the name does not occur anywhere else.
func (s *DB) RotationCounts(ctx context.Context, now time.Time, issuer []byte) (active, pending int, err error) {
	contains := `instr(c.der, ?) > 0`
	if s.dialect == Postgres {
		contains = `position(?::bytea in c.der) > 0`
	}
	q := `SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM certificates c
		WHERE c.device_id = d.device_id AND c.revoked_ms = 0 AND c.not_after_ms > ? AND ` + contains + `) THEN 1 ELSE 0 END), 0)
		FROM devices d WHERE d.state = ?`
	err = s.sql.QueryRowContext(ctx, s.q(q), ms(now), issuer, string(Active)).Scan(&active, &pending)
	if err != nil {
		return 0, 0, fmt.Errorf("store: rotation counts: %w", err)
	}
	return active, pending, nil
}
