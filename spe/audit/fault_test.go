package audit

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
)

// scenario appends records (sealing every 3) and a final checkpoint into m,
// stopping at the first error, and returns the acknowledged records.
func scenario(t *testing.T, m *memBacking, key crypto.Signer, opts Options) []Record {
	t.Helper()
	l, err := Open(m, key, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var acked []Record
	for i := range 7 {
		r, err := l.Append(int32(i+1), "event", payload(i))
		if err != nil {
			return acked
		}
		acked = append(acked, r)
	}
	l.Checkpoint()
	return acked
}

// TestCrashMidAppend cuts the store at every byte of every write of a
// scenario (each append is one write then a sync) and restarts from what a
// crash leaves: the synced bytes plus none, half or all of the unsynced
// ones. Every acknowledged record survives intact and in order, the
// reopened log verifies, and it keeps working.
func TestCrashMidAppend(t *testing.T) {
	key := testKey(t)
	full := newMem()
	scenario(t, full, key, Options{Now: clock(), CheckpointEvery: 3})
	total := len(full.bytes())
	cases := 0
	for budget := 0; budget <= total; budget++ {
		m := newMem()
		m.budget = budget
		acked := scenario(t, m, key, Options{Now: clock(), CheckpointEvery: 3})
		unsynced := len(m.data) - m.synced
		for _, keep := range []int{0, unsynced / 2, unsynced} {
			cases++
			after := m.afterCrash(keep)
			l, err := Open(after, key, Options{Now: clock()})
			if err != nil {
				t.Fatalf("budget %d, keep %d: reopen: %v", budget, keep, err)
			}
			rep, err := Verify(after, int64(len(after.data)), key.Public(), VerifyOptions{})
			if err != nil || rep.TornBytes != 0 {
				t.Fatalf("budget %d, keep %d: after reopen: %v, torn %d", budget, keep, err, rep.TornBytes)
			}
			if len(rep.Records) < len(acked) {
				t.Fatalf("budget %d, keep %d: %d records survive, %d were acknowledged", budget, keep, len(rep.Records), len(acked))
			}
			for i, a := range acked {
				r := rep.Records[i]
				if r.Seq != a.Seq || r.Client != a.Client || !bytes.Equal(r.Data, a.Data) || !r.Time.Equal(a.Time) {
					t.Fatalf("budget %d: acknowledged record %d changed", budget, i)
				}
			}
			if _, err := l.Append(99, "after-restart", nil); err != nil {
				t.Fatalf("budget %d: append after restart: %v", budget, err)
			}
			if _, err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(after, int64(len(after.data)), key.Public(), VerifyOptions{}); err != nil {
				t.Fatalf("budget %d: after restart and append: %v", budget, err)
			}
		}
	}
	t.Logf("%d crash points over %d bytes of writes", cases, total)
}

// TestSyncFailure: a record whose sync failed was not acknowledged; after a
// restart it may or may not be there, and everything before it is.
func TestSyncFailure(t *testing.T) {
	key := testKey(t)
	for failAt := range 5 {
		m := newMem()
		l, err := Open(m, key, Options{Now: clock()})
		if err != nil {
			t.Fatal(err)
		}
		acked := 0
		for i := range 5 {
			if i == failAt {
				m.syncFails = 1
			}
			if _, err := l.Append(1, "e", payload(i)); err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Fatal(err)
				}
				break
			}
			acked++
		}
		if acked != failAt {
			t.Fatalf("acknowledged %d, want %d", acked, failAt)
		}
		for _, keep := range []int{0, 1 << 20} {
			after := m.afterCrash(keep)
			if _, err := Open(after, key, Options{}); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(after, int64(len(after.data)), key.Public(), VerifyOptions{})
			if err != nil || len(rep.Records) < acked {
				t.Fatalf("fail at %d: %v, %d records", failAt, err, len(rep.Records))
			}
		}
	}
}

// TestOpenWithAnchor: the owner's anchor makes Open refuse a store cut back
// below it (which otherwise reads as a shorter log or a torn tail).
func TestOpenWithAnchor(t *testing.T) {
	key := testKey(t)
	m := newMem()
	l, _ := Open(m, key, Options{Now: clock(), CheckpointEvery: 2})
	for i := range 6 {
		l.Append(1, "e", payload(i))
	}
	anchor, n := l.Head()
	if n != 6 || anchor.Count != 6 {
		t.Fatalf("head %d, checkpoint %d", n, anchor.Count)
	}
	l.Close()
	b := m.bytes()
	fs := frames(t, b)
	cut := memOf(b[:fs[len(fs)-1].offset+3]) // a "torn" last checkpoint
	if _, err := Open(cut, key, Options{}); err != nil {
		t.Fatalf("without the anchor the cut reads as a torn append: %v", err)
	}
	cut = memOf(b[:fs[len(fs)-1].offset+3])
	if _, err := Open(cut, key, Options{Anchor: anchor}); !errors.Is(err, ErrTampered) {
		t.Fatalf("with the anchor: %v", err)
	}
	if _, err := Open(memOf(b), key, Options{Anchor: anchor}); err != nil {
		t.Fatalf("intact store with its anchor: %v", err)
	}
}
