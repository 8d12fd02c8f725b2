package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"rampart/fleet/ca"
)

// TestServerFilesPrivate: a server started on a data_dir an older version
// left 0755, with a 0644 database and a 0644 CA key, keeps everything
// private: data_dir 0700, the CA key and the database (and its WAL) 0600.
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
	if _, err := ca.Open(data, []byte(testPassphrase), ca.Options{Rand: rand.Reader}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	os.Chmod(filepath.Join(data, ca.KeyFile), 0o644)
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

// TestWeakPassphraseRefusedForNewCA: a new CA key is not written under a
// passphrase below the policy (a one-character passphrase was accepted);
// the refusal comes before anything is created.
func TestWeakPassphraseRefusedForNewCA(t *testing.T) {
	f := prepareFixture(t, "sqlite")
	cfg, err := LoadConfig(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"x", "short-but-mixed", "aaaaaaaaaaaaaaaaaaaaaaaa"} {
		_, err := New(cfg, Options{Passphrase: []byte(p), Rand: rand.Reader, LogOutput: io.Discard})
		if !errors.Is(err, ca.ErrWeakPassphrase) || !strings.Contains(err.Error(), "RAMPART_TEST_CA_PASSPHRASE") {
			t.Fatalf("passphrase %q: %v, want ErrWeakPassphrase naming the variable", p, err)
		}
		if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
			t.Fatalf("passphrase %q: data_dir was created (a key file or the database written?): %v", p, err)
		}
	}
}

// TestWeakPassphraseOfExistingCAWarns: a CA key written by an older version
// under a weak passphrase still opens (the fleet keeps running after the
// upgrade), with a warning naming the command that changes it.
func TestWeakPassphraseOfExistingCAWarns(t *testing.T) {
	f := prepareFixture(t, "sqlite")
	cfg, err := LoadConfig(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Open(cfg.DataDir, []byte("pw"), ca.Options{Rand: rand.Reader}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := New(cfg, Options{Passphrase: []byte("pw"), Rand: rand.Reader, LogOutput: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "rampart server ca-passphrase") {
		t.Fatalf("no warning about the weak passphrase: %q", logs.String())
	}
}
