package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/spe/storage"
)

// TestOpenMakesStorePrivate: a store's directory becomes 0700 and its files
// 0600 when it is opened, whatever they were; a directory or file others
// could have written, or another user's file, is refused.
func TestOpenMakesStorePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o755)
	obj := filepath.Join(dir, "object")
	os.WriteFile(obj, []byte("data"), 0o644)
	os.Chmod(obj, 0o644)
	if _, err := storage.Open(dir, storage.Options{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, obj: 0o600} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	os.Chmod(obj, 0o622)
	if _, err := storage.Open(dir, storage.Options{}); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("a file others could write: %v", err)
	}
	os.Chmod(obj, 0o600)
	os.Chmod(dir, 0o730)
	if _, err := storage.Open(dir, storage.Options{}); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("a directory its group could write: %v", err)
	}
	os.Chmod(dir, 0o700)
	if os.Geteuid() != 0 {
		t.Skip("another user's file: needs root to chown")
	}
	os.Chown(obj, 65534, 65534)
	if _, err := storage.Open(dir, storage.Options{}); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("another user's file: %v", err)
	}
}

// TestPutOverLeftoverTemp: a temporary file a crash left behind (here
// 0644) keeps its mode when reopened with O_TRUNC; Put used to write the
// object into it and rename it into place readable by all.
func TestPutOverLeftoverTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "object.tmp"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "object.tmp"), 0o644)
	if err := s.Put("object", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "object"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("object written over a leftover 0644 temporary file: mode %v, want 0600", fi.Mode().Perm())
	}
}
