package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CASeal is the CA whose key derives the server's sealing secrets (the
// campaign download keys' and the owner key's) since an emergency
// rotation: that rotation's successor. Without a row the original CA
// derives them. The row outlives the ca_rotation row, which the next
// rotation replaces (docs/ownership-and-rotation.md, section 8).
type CASeal struct {
	Generation int
	CertPEM    []byte
	KeyPEM     []byte // encrypted under the CA passphrase
}

// CASeal returns the sealing CA; ErrNotFound while the original CA seals.
func (s *DB) CASeal(ctx context.Context) (*CASeal, error) {
	var c CASeal
	var cert, key string
	err := s.sql.QueryRowContext(ctx, `SELECT generation, cert_pem, key_pem FROM ca_seal WHERE id = 1`).Scan(&c.Generation, &cert, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: CA seal: %w", err)
	}
	c.CertPEM, c.KeyPEM = []byte(cert), []byte(key)
	return &c, nil
}

// Reseal is what the activation of an emergency rotation rewrites: every
// campaign's stored spec (unchanged ones too: a campaign created since the
// read is a conflict) and the owner key, each with the value it replaces
// (read before the transaction; a row changed since is a conflict).
type Reseal struct {
	Campaigns []ResealedSpec
	// OldOwnerKey and OwnerKey: the sealed owner key, before and after
	// (both nil when the fleet has none yet).
	OldOwnerKey, OwnerKey []byte
}

// ResealedSpec is one campaign's stored spec, before and after.
type ResealedSpec struct {
	ID, Old, New string
}

// ActivateEmergency moves emergency rotation gen from staged to active and,
// in the same transaction, makes seal the sealing CA and writes every
// re-sealed value of r: no state in between is ever stored (a crash leaves
// the rotation staged with every value sealed as before, or active with
// every value re-sealed). It reports whether this call moved it (another
// node may have first: then nothing is written). ErrConflict: a value
// changed since it was read (nothing is written; read again and retry).
func (s *DB) ActivateEmergency(ctx context.Context, gen int, seal *CASeal, r *Reseal, audit *AuditEntry) (bool, error) {
	moved := false
	err := s.tx(ctx, func(t *sql.Tx) error {
		res, err := s.exec(ctx, t, `UPDATE ca_rotation SET state = ?, activated_ms = ? WHERE id = 1 AND generation = ? AND state = ? AND emergency = 1`,
			RotationActive, ms(s.now()), gen, RotationStaged)
		if err != nil {
			return fmt.Errorf("store: CA rotation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		moved = true
		if s.dialect == SQLite {
			// As SetCampaignSpec: the old sealed bytes are zeroed, not
			// left in free pages.
			if _, err := t.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
				return fmt.Errorf("store: CA seal: %w", err)
			}
			defer t.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
		}
		if _, err := s.exec(ctx, t, `DELETE FROM ca_seal WHERE id = 1`); err != nil {
			return fmt.Errorf("store: CA seal: %w", err)
		}
		if _, err := s.exec(ctx, t, `INSERT INTO ca_seal (id, generation, cert_pem, key_pem, sealed_ms) VALUES (1, ?, ?, ?, ?)`,
			seal.Generation, string(seal.CertPEM), string(seal.KeyPEM), ms(s.now())); err != nil {
			return fmt.Errorf("store: CA seal: %w", err)
		}
		if err := s.writeResealed(ctx, t, r); err != nil {
			return err
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return moved, nil
}

// writeResealed writes r's values, each only over the value it was made
// from.
func (s *DB) writeResealed(ctx context.Context, t *sql.Tx, r *Reseal) error {
	check := func(res sql.Result, err error, what string) error {
		if err != nil {
			return fmt.Errorf("store: re-seal %s: %w", what, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("store: re-seal %s: changed since read: %w", what, ErrConflict)
		}
		return nil
	}
	var total int
	if err := t.QueryRowContext(ctx, `SELECT count(*) FROM campaigns`).Scan(&total); err != nil {
		return fmt.Errorf("store: re-seal: %w", err)
	}
	if total != len(r.Campaigns) {
		return fmt.Errorf("store: re-seal: a campaign was created since read: %w", ErrConflict)
	}
	for _, c := range r.Campaigns {
		res, err := s.exec(ctx, t, `UPDATE campaigns SET spec = ? WHERE id = ? AND spec = ?`, c.New, c.ID, c.Old)
		if err := check(res, err, "campaign "+c.ID); err != nil {
			return err
		}
	}
	if r.OldOwnerKey == nil {
		var n int
		if err := t.QueryRowContext(ctx, `SELECT count(*) FROM ownership_key`).Scan(&n); err != nil {
			return fmt.Errorf("store: re-seal owner key: %w", err)
		}
		if n != 0 {
			return fmt.Errorf("store: re-seal owner key: stored since read: %w", ErrConflict)
		}
		return nil
	}
	res, err := s.exec(ctx, t, `UPDATE ownership_key SET key_pem = ? WHERE id = 1 AND key_pem = ?`, string(r.OwnerKey), string(r.OldOwnerKey))
	return check(res, err, "owner key")
}
