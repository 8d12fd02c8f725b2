package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// FleetCA returns the fleet CA kept in the store by the nodes of a
// cluster: its certificate (PEM) and its key, encrypted under the CA
// passphrase (never in clear: the store holds nothing that opens it).
// ErrNotFound when none is stored yet.
func (s *DB) FleetCA(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	var c, k string
	err = s.sql.QueryRowContext(ctx, `SELECT cert_pem, key_pem FROM fleet_ca WHERE id = 1`).Scan(&c, &k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: fleet CA: %w", err)
	}
	return []byte(c), []byte(k), nil
}

// PutFleetCAIfAbsent stores the fleet CA unless one is stored already, in
// one statement: of nodes starting together, exactly one row is written
// (the primary key is the lock) and every node then reads that one back
// (FleetCA). It reports whether this call stored it.
func (s *DB) PutFleetCAIfAbsent(ctx context.Context, certPEM, keyPEM []byte) (bool, error) {
	r, err := s.sql.ExecContext(ctx, s.q(`INSERT INTO fleet_ca (id, cert_pem, key_pem, created_ms) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		string(certPEM), string(keyPEM), ms(s.now()))
	if err != nil {
		return false, fmt.Errorf("store: fleet CA: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: fleet CA: %w", err)
	}
	return n == 1, nil
}

// ReplaceFleetCAKey replaces the stored CA key oldKeyPEM by newKeyPEM (the
// same key under a new passphrase); ErrConflict when the stored key is no
// longer oldKeyPEM (changed meanwhile), ErrNotFound when none is stored.
func (s *DB) ReplaceFleetCAKey(ctx context.Context, oldKeyPEM, newKeyPEM []byte) error {
	r, err := s.sql.ExecContext(ctx, s.q(`UPDATE fleet_ca SET key_pem = ? WHERE id = 1 AND key_pem = ?`), string(newKeyPEM), string(oldKeyPEM))
	if err != nil {
		return fmt.Errorf("store: fleet CA: %w", err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("store: fleet CA: %w", err)
	} else if n == 1 {
		return nil
	}
	if _, _, err := s.FleetCA(ctx); err != nil {
		return err
	}
	return fmt.Errorf("store: fleet CA key changed meanwhile: %w", ErrConflict)
}
