package store

import (
	"context"
	"database/sql"
)

// FencedWriteForTest commits an empty transaction under fence f.
func (s *DB) FencedWriteForTest(ctx context.Context, f Fence) error {
	return s.tx(ctx, func(t *sql.Tx) error { return s.checkFence(ctx, t, f) })
}
