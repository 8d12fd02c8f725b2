package fleet

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestServerFilesPrivate: a server started on a data_dir an older version
// left 0755, with a 0644 database, keeps everything it writes private:
// data_dir 0700, the CA key and the database (and its WAL) 0600.
func TestServerFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	f := prepareFixture(t, "sqlite")
	data := filepath.Join(f.dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "fleet.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.start()
	for p, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "ca.key.enc"): 0o600,
		filepath.Join(data, "fleet.db"): 0o600, filepath.Join(data, "fleet.db-wal"): 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), st.Mode().Perm(), want)
		}
	}
}
