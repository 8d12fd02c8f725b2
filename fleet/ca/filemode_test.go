package ca

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestCAFilesPrivate: the CA directory is 0700 and the key file 0600 when
// Open creates them, even into an existing 0755 directory holding a stale
// 0644 temporary file of the key's name (an earlier writer opened
// "ca.key.enc.tmp" with O_TRUNC, which keeps an existing file's mode, and
// renamed it over the key). (An existing CA left 0755/0644 by an older
// version is tightened by the server: fleet.TestServerFilesPrivate.)
func TestCAFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile+".tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pass := []byte("correct horse battery staple")
	if _, err := Open(dir, pass, Options{Rand: rand.Reader}); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, dir); m != 0o700 {
		t.Errorf("created: directory mode %v, want 0700", m)
	}
	if m := modeOf(t, filepath.Join(dir, KeyFile)); m != 0o600 {
		t.Errorf("created: key file mode %v, want 0600", m)
	}
}
