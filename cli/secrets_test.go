package cli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
