package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppendFile measures a durable append (write + fsync, no
// checkpoint) against the raw baseline of writing the same number of bytes
// to a file and fsyncing it:
//
//	go test -run '^$' -bench 'File' ./spe/audit/
func BenchmarkAppendFile(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(f, fixedKey(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(-1, "storage.set", data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l.Close()
}

func BenchmarkRawWriteSyncFile(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := Record{Event: "storage.set", Data: make([]byte, 128)}
	buf := appendFrame(nil, kindRecord, r.marshal())
	off := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
	}
}
