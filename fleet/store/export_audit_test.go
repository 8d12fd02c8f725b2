package store

import (
	"context"
	"database/sql"
)

// For the external tests.
const (
	MaxAuditReason  = maxAuditReason
	MaxAuditSubject = maxAuditSubject
)

// SetAuditDeleteBatch sets the retention batch size and returns a function
// restoring it.
func SetAuditDeleteBatch(n int) func() {
	old := auditDeleteBatch
	auditDeleteBatch = n
	return func() { auditDeleteBatch = old }
}

// InsertAuditRows inserts n entries in one transaction.
func InsertAuditRows(ctx context.Context, db *DB, n int, entry func(int) *AuditEntry) error {
	return db.tx(ctx, func(t *sql.Tx) error {
		for i := range n {
			if err := db.insertAudit(ctx, t, entry(i)); err != nil {
				return err
			}
		}
		return nil
	})
}
