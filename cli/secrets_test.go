package cli

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"rampart/fleet/ca"
)

// TestKeygenOverwriteIsPrivate: `image keygen` over an existing 0644 file
// leaves a 0600 file holding the new key. os.WriteFile kept the old mode,
// so the private key was world-readable.
func TestKeygenOverwriteIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	key := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(key, []byte("an old public key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "image", "keygen", "-t", "ed25519", "-k", key); code != 0 {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if code, out, _ := run(t, "image", "keyinfo", "-k", key); code != 0 || out != "private\n" {
		t.Fatalf("keyinfo of the new file: %d %q", code, out)
	}
}

// TestServerCAPassphrase: `server ca-passphrase` re-encrypts the CA key
// under a new passphrase meeting the policy; a weak one or a wrong current
// one exits 1 and changes nothing.
func TestServerCAPassphrase(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldPass, newPass := "pw", "kT3vQ9xWm2pL8rZs4yBn6cHd"
	if _, err := ca.Open(filepath.Join(dir, "data"), []byte(oldPass), ca.Options{Rand: rand.Reader}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env  map[string]string
		code int
		err  string
	}{
		{map[string]string{"RAMPART_CA_PASSPHRASE": oldPass}, ExitUsage, "RAMPART_CA_NEW_PASSPHRASE"},
		{map[string]string{"RAMPART_CA_PASSPHRASE": oldPass, "RAMPART_CA_NEW_PASSPHRASE": "short"}, ExitFailure, "too weak"},
		{map[string]string{"RAMPART_CA_PASSPHRASE": "wrong", "RAMPART_CA_NEW_PASSPHRASE": newPass}, ExitFailure, "wrong passphrase"},
		{map[string]string{"RAMPART_CA_PASSPHRASE": oldPass, "RAMPART_CA_NEW_PASSPHRASE": newPass}, ExitOK, ""},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.env, "server", "ca-passphrase", "--config", cfgPath)
		if code != c.code || !strings.Contains(errs, c.err) {
			t.Fatalf("%v: exit %d %q, want %d %q", c.env, code, errs, c.code, c.err)
		}
	}
	if _, err := ca.Open(filepath.Join(dir, "data"), []byte(newPass), ca.Options{Rand: rand.Reader}); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
}
