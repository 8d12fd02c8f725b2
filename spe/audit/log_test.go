package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestAppendReopenVerify(t *testing.T) {
	key := testKey(t)
	m := newMem()
	now := clock()
	l, err := Open(m, key, Options{Now: now, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
	for i := range 10 {
		r, err := l.Append(int32(i+1), "storage.set", payload(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(i) {
			t.Fatalf("seq %d, want %d", r.Seq, i)
		}
		want = append(want, r)
	}
	cp, n := l.Head()
	if n != 10 || cp == nil || cp.Count != 8 {
		t.Fatalf("head: %d records, checkpoint %+v", n, cp)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(1, "x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	st := memOf(m.bytes())
	rep, err := Verify(st, int64(len(st.data)), key.Public(), VerifyOptions{Anchor: cp})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 10 || rep.Checkpoints != 3 || rep.Unsealed != 0 || rep.Last.Count != 10 {
		t.Fatalf("report: %d records, %d checkpoints, %d unsealed", len(rep.Records), rep.Checkpoints, rep.Unsealed)
	}
	for i, r := range rep.Records {
		w := want[i]
		if r.Seq != w.Seq || !r.Time.Equal(w.Time) || r.Client != w.Client || r.Event != w.Event || !bytes.Equal(r.Data, w.Data) {
			t.Fatalf("record %d: got %+v, want %+v", i, r, w)
		}
	}
	// Reopen and continue the chain.
	l, err = Open(st, key, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(-5, "reopened", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(st, int64(len(st.data)), key.Public(), VerifyOptions{Anchor: rep.Last})
	if err != nil || len(rep.Records) != 11 || rep.Records[10].Event != "reopened" {
		t.Fatalf("after reopening: %v", err)
	}
}

func TestOnFileWithEd25519(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	for round := range 3 {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(f, key, Options{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := range 5 {
			if _, err := l.Append(7, "fwu.install", payload(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rep, err := Verify(f, st.Size(), key.Public(), VerifyOptions{})
	if err != nil || len(rep.Records) != 15 || rep.Checkpoints != 3 {
		t.Fatalf("%v, %+v", err, rep)
	}
}

func TestRecordLimits(t *testing.T) {
	l, err := Open(newMem(), testKey(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		event string
		data  []byte
	}{
		"empty event":    {"", nil},
		"long event":     {strings.Repeat("e", MaxEventLen+1), nil},
		"oversized data": {"e", make([]byte, MaxDataLen+1)},
	} {
		if _, err := l.Append(1, c.event, c.data); !errors.Is(err, ErrRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Limits are inclusive, and a refused record does not poison the log.
	if _, err := l.Append(1, strings.Repeat("e", MaxEventLen), make([]byte, MaxDataLen)); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	key := testKey(t)
	m := newMem()
	l, err := Open(m, key, Options{CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := l.Append(int32(g+1), "e", payload(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := memOf(m.bytes())
	rep, err := Verify(st, int64(len(st.data)), key.Public(), VerifyOptions{})
	if err != nil || len(rep.Records) != 100 {
		t.Fatalf("%v", err)
	}
}

func TestFailedWritePoisonsLog(t *testing.T) {
	m := newMem()
	l, err := Open(m, testKey(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.syncFails = 1
	if _, err := l.Append(1, "e", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("failed sync: %v", err)
	}
	if _, err := l.Append(1, "e", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after a failure: %v", err)
	}
}
