package fdpool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBoundedAndWriteThrough writes to more files than the pool keeps
// open: the pool never holds more than its limit, and every write is in
// the file (read back through os.ReadFile, not the pool) when WriteAt
// returns.
func TestBoundedAndWriteThrough(t *testing.T) {
	dir := t.TempDir()
	p := New(4)
	var files []*File
	for i := range 20 {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(path, make([]byte, 8), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := p.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	for round := range 3 {
		for i, f := range files {
			if _, err := f.WriteAt([]byte{byte(round), byte(i)}, int64(2*round)); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(f.Path())
			if !bytes.Equal(got[2*round:2*round+2], []byte{byte(round), byte(i)}) {
				t.Fatalf("file %d round %d: %x not written through", i, round, got)
			}
			if n := p.Descriptors(); n > 4 {
				t.Fatalf("%d descriptors open, limit 4", n)
			}
		}
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 6)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(4); err != nil {
			t.Fatal(err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != 4 {
			t.Fatalf("stat after truncate: %v %v", fi, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{1}, 0); err != ErrClosed {
			t.Fatalf("write after close: %v, want ErrClosed", err)
		}
	}
	if n := p.Descriptors(); n != 0 {
		t.Fatalf("%d descriptors open after every file closed", n)
	}
}

// TestConcurrentUse writes from many goroutines to more files than the
// limit: no call fails on a descriptor another call closed.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	p := New(2)
	var files []*File
	for i := range 8 {
		path := filepath.Join(dir, fmt.Sprint(i))
		fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, p.Adopt(path, fd))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				f := files[(g+k)%len(files)]
				if _, err := f.WriteAt([]byte{byte(g)}, int64(g)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for g, f := range files {
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if b[i] != byte(i) {
				t.Fatalf("file %d: %x", g, b)
			}
		}
	}
}
