package cli

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
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

// TestServerCAPassphraseCluster: with a cluster: section the key
// re-encrypted is the one every node shares, in the store.
func TestServerCAPassphraseCluster(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "server.yaml")
	text := "data_dir: data\ndatabase: " + dsn + "\ncluster:\n  node: a\n  nats: [nats://127.0.0.1:4222]\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	oldPass, newPass := "pw", "kT3vQ9xWm2pL8rZs4yBn6cHd"
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_CA_PASSPHRASE": oldPass, "RAMPART_CA_NEW_PASSPHRASE": newPass}, "server", "ca-passphrase", "--config", cfgPath); code != ExitError || !strings.Contains(errs, "not found") {
		t.Fatalf("no CA stored: %d %q", code, errs)
	}
	_, certPEM, keyPEM, err := ca.Generate([]byte(oldPass), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutFleetCAIfAbsent(ctx, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_CA_PASSPHRASE": "wrong", "RAMPART_CA_NEW_PASSPHRASE": newPass}, "server", "ca-passphrase", "--config", cfgPath); code != ExitFailure || !strings.Contains(errs, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %d %q", code, errs)
	}
	code, out, errs := runCLI(t, map[string]string{"RAMPART_CA_PASSPHRASE": oldPass, "RAMPART_CA_NEW_PASSPHRASE": newPass}, "server", "ca-passphrase", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "the cluster's store") {
		t.Fatalf("change: %d %q %q", code, out, errs)
	}
	c2, k2, err := db.FleetCA(ctx)
	if err != nil || string(c2) != string(certPEM) {
		t.Fatalf("stored CA: %v", err)
	}
	if _, err := ca.Load(c2, k2, []byte(newPass), ca.Options{Rand: rand.Reader}); err != nil {
		t.Fatalf("the stored key under the new passphrase: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("a CA file was written: %v", err)
	}
}
