package demo

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWritePrivate: the demo's files (signing keys among them) are 0600 in
// 0700 directories, also over a file or directory left readable.
func TestWritePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "signing.pem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newState(Options{Dir: dir})
	p, err := s.write("keys/signing.pem", []byte("private"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}
