package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"
)

// memBacking is an in-memory Backing with fault injection: a crash after a
// budget of written bytes, and failing syncs. synced is the prefix a sync
// has made durable.
type memBacking struct {
	mu        sync.Mutex
	data      []byte
	synced    int
	budget    int // bytes that may still be written; < 0: unlimited
	syncFails int // the next syncFails syncs fail (after writing nothing durable)
	crashed   bool
	closed    bool
}

var errCrash = errors.New("injected crash")

func newMem() *memBacking { return &memBacking{budget: -1} }

func (m *memBacking) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memBacking) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed || m.closed {
		return 0, errCrash
	}
	n := len(p)
	var err error
	if m.budget >= 0 && n > m.budget {
		n, err = m.budget, errCrash
		m.crashed = true
	}
	if m.budget >= 0 {
		m.budget -= n
	}
	end := int(off) + n
	if end > len(m.data) {
		m.data = append(m.data, make([]byte, end-len(m.data))...)
	}
	copy(m.data[off:], p[:n])
	return n, err
}

func (m *memBacking) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed || m.closed {
		return errCrash
	}
	if m.syncFails > 0 {
		m.syncFails--
		return errors.New("injected sync failure")
	}
	m.synced = len(m.data)
	return nil
}

func (m *memBacking) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = m.data[:size]
	m.synced = min(m.synced, int(size))
	return nil
}

func (m *memBacking) Stat() (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return memInfo(len(m.data)), nil
}

func (m *memBacking) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// afterCrash returns what a restart would find: the synced prefix plus the
// first keep bytes of what was written but not synced.
func (m *memBacking) afterCrash(keep int) *memBacking {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := min(m.synced+keep, len(m.data))
	return &memBacking{data: append([]byte(nil), m.data[:end]...), synced: end, budget: -1}
}

func (m *memBacking) bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

func memOf(b []byte) *memBacking {
	return &memBacking{data: append([]byte(nil), b...), synced: len(b), budget: -1}
}

type memInfo int

func (s memInfo) Name() string       { return "mem" }
func (s memInfo) Size() int64        { return int64(s) }
func (s memInfo) Mode() fs.FileMode  { return 0o600 }
func (s memInfo) ModTime() time.Time { return time.Time{} }
func (s memInfo) IsDir() bool        { return false }
func (s memInfo) Sys() any           { return nil }

// clock is a deterministic time source.
func clock() func() time.Time {
	t := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func testKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, i)) }

// buildLog writes n records (a checkpoint every `every`) and closes the log.
func buildLog(t testing.TB, key crypto.Signer, n, every int) *memBacking {
	t.Helper()
	m := newMem()
	l, err := Open(m, key, Options{Now: clock(), CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(int32(-1-i%3), "event", payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return memOf(m.bytes())
}

// frames lists the frames of a store.
func frames(t testing.TB, b []byte) []*frame {
	t.Helper()
	var fs []*frame
	for off := int64(0); off < int64(len(b)); {
		f, err := readFrame(memOf(b), off, int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
		off += f.size
	}
	return fs
}
