package store

import (
	"context"
	"fmt"
)

// SetCampaignSpec replaces the stored specification of campaign id (the
// campaign engine rewrites it when it moves a secret out of it). On SQLite
// the update runs with secure_delete on, so the bytes of the old row are
// overwritten with zeros rather than left in the page's free space: after
// the next checkpoint the file no longer holds them. PostgreSQL keeps the
// old row version until vacuum reclaims it.
func (s *DB) SetCampaignSpec(ctx context.Context, id, spec string) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: set campaign spec: %w", err)
	}
	defer conn.Close()
	if s.dialect == SQLite {
		if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
			return fmt.Errorf("store: set campaign spec: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	}
	res, err := conn.ExecContext(ctx, s.q(`UPDATE campaigns SET spec = ? WHERE id = ?`), spec, id)
	if err != nil {
		return fmt.Errorf("store: set campaign spec: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set campaign spec: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: campaign %s: %w", id, ErrNotFound)
	}
	return nil
}
