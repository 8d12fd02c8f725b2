package ps_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

// Storage benchmarks: one set and one get of a 1 KiB object, beside the
// raw baseline of writing 1 KiB to a file with fsync and reading it back.
//
//	go test ./spe/storage/ps -run '^$' -bench . -benchtime 2s
//
// ITS pays the atomic replace (temporary file, fsync, rename, directory
// fsync); PS adds AES-GCM and a second atomic replace for its version
// record in ITS.

var kib = bytes.Repeat([]byte{0xa5}, 1024)

func BenchmarkRawFileWriteFsync1KiB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "raw")
	for b.Loop() {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(kib); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if _, err := os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkITSSetGet1KiB(b *testing.B) {
	st, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := its.New(st, its.Limits{})
	for b.Loop() {
		if err := s.Set(-1, 1, kib, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(-1, 1, 0, 1024); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPSSetGet1KiB(b *testing.B) {
	r := open(b, b.TempDir())
	for b.Loop() {
		if err := r.ps.Set(-1, 1, kib, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ps.Get(-1, 1, 0, 1024); err != nil {
			b.Fatal(err)
		}
	}
}
