package store_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

type (
	AuditEntry  = store.AuditEntry
	AuditFilter = store.AuditFilter
	DB          = store.DB
)

const (
	Allow = store.Allow
	Deny  = store.Deny
)

var (
	each            = storetest.Each
	auditText       = store.AuditText
	maxAuditReason  = store.MaxAuditReason
	maxAuditSubject = store.MaxAuditSubject
)

// Issue 15, item 10: PostgreSQL refused audit rows with a NUL or an
// over-long subject (and SQLite stored them as they were). Both now store
// the same cleaned, bounded values, and a filter with such a value finds
// them.
func TestAuditHostileFields(t *testing.T) {
	each(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		long := strings.Repeat("é", 3000) // 6,000 bytes
		e := &AuditEntry{Actor: "remote:192.0.2.1:1\x00", Action: "api GET /api/v1/devices/{id}", Subject: "/api/v1/devices/a\x00b\xff\x1b[31m",
			Decision: Deny, Reason: "no valid bearer token\n" + long}
		if err := db.Audit(ctx, e); err != nil {
			t.Fatalf("hostile fields refused: %v", err)
		}
		if err := db.Audit(ctx, &AuditEntry{Actor: "x", Action: "y", Subject: long + "\x00", Decision: Deny, Reason: "z"}); err != nil {
			t.Fatalf("long subject refused: %v", err)
		}
		l, err := db.AuditLog(ctx, AuditFilter{Subject: "/api/v1/devices/a\x00b\xff\x1b[31m"})
		if err != nil || len(l) != 1 {
			t.Fatalf("filter with the same hostile subject: %d rows, %v", len(l), err)
		}
		got := l[0]
		if got.Subject != `/api/v1/devices/a\x00b`+"\uFFFD"+`\x1b[31m` || got.Actor != `remote:192.0.2.1:1\x00` {
			t.Fatalf("stored subject %q, actor %q", got.Subject, got.Actor)
		}
		if len(got.Reason) > maxAuditReason || !strings.HasPrefix(got.Reason, "no valid bearer token\néé") || !strings.HasSuffix(got.Reason, " bytes cut]") || !utf8.ValidString(got.Reason) {
			t.Fatalf("stored reason: %d bytes, %q...%q", len(got.Reason), got.Reason[:30], got.Reason[len(got.Reason)-20:])
		}
		l, err = db.AuditLog(ctx, AuditFilter{Action: "y"})
		if err != nil || len(l) != 1 || len(l[0].Subject) > maxAuditSubject {
			t.Fatalf("long subject: %v %v", l, err)
		}
	})
}

func FuzzAuditText(f *testing.F) {
	for _, s := range []string{"remote:192.0.2.1:443", "a\x00b", "\xff\xfe", strings.Repeat("é", 300), "tab\tand\nnewline", "\x1b[31m"} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		out := auditText(s, max)
		if len(out) > max || !utf8.ValidString(out) {
			t.Fatalf("%q (max %d) -> %q", s, max, out)
		}
		for _, c := range []byte(out) {
			if (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
				t.Fatalf("%q -> %q keeps control byte %#x", s, out, c)
			}
		}
		if again := auditText(out, max); again != out {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}

// Retention by age and by row count, in batches, on both databases.
func TestAuditRetention(t *testing.T) {
	each(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		defer store.SetAuditDeleteBatch(100)()
		t0 := time.UnixMilli(1_764_000_000_000)
		if err := store.InsertAuditRows(ctx, db, 2500, func(i int) *AuditEntry {
			return &AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "a", Action: "b", Decision: Allow}
		}); err != nil {
			t.Fatal(err)
		}
		n, err := db.DeleteAuditBefore(ctx, t0.Add(2100*time.Second))
		if err != nil || n != 2100 {
			t.Fatalf("DeleteAuditBefore: %d, %v; want 2100 (22 batches)", n, err)
		}
		if c, _ := db.CountAudit(ctx); c != 400 {
			t.Fatalf("%d rows left, want 400", c)
		}
		n, err = db.TrimAudit(ctx, 150)
		if err != nil || n != 250 {
			t.Fatalf("TrimAudit: %d, %v; want 250", n, err)
		}
		l, _ := db.AuditLog(ctx, AuditFilter{Limit: 5000})
		if len(l) != 150 || !l[len(l)-1].Time.Equal(t0.Add(2350*time.Second)) || !l[0].Time.Equal(t0.Add(2499*time.Second)) {
			t.Fatalf("kept %d rows from %v to %v", len(l), l[len(l)-1].Time, l[0].Time)
		}
		if n, err := db.TrimAudit(ctx, 5000); err != nil || n != 0 {
			t.Fatalf("TrimAudit above the count: %d, %v", n, err)
		}
	})
}
