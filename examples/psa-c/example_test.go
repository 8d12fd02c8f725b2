package psac_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/capi"
	"rampart/ipc"
)

// TestCExample installs libpsa-rampart, builds c/psa_example.c with
// `pkg-config --static` against it, and runs it against a fresh `rampart spe
// serve`: a key generated, a signature made and verified, a PS object
// stored and read back, an attestation token fetched, all from C.
func TestCExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the C library: not in -short")
	}
	for _, tool := range []string{"gcc", "pkg-config", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the C example cannot be built", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, _ := filepath.Abs("../..")
	work := t.TempDir()
	inst := filepath.Join(work, "inst")
	if _, err := capi.Build(ctx, capi.Options{Out: inst, Static: true, ModuleDir: root}); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(inst, "lib", "pkgconfig"))
	flags, err := command(ctx, env, "pkg-config", "--cflags", "--libs", "--static", capi.LibName)
	if err != nil {
		t.Fatalf("pkg-config: %v %s", err, flags)
	}
	bin := filepath.Join(work, "psa_example")
	args := append([]string{"-Wall", "-Wextra", "-Werror", "-std=c99", "-o", bin, "c/psa_example.c"}, strings.Fields(string(flags))...)
	if out, err := command(ctx, env, "gcc", args...); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	rampart := filepath.Join(work, "rampart")
	if out, err := command(ctx, nil, "go", "build", "-C", root, "-o", rampart, "./cmd/rampart"); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := serve(t, rampart)
	out, err := command(ctx, append(os.Environ(), "RAMPART_SPE_SOCKET="+sock), bin)
	if err != nil {
		t.Fatalf("psa_example: %v\n%s", err, out)
	}
	for _, want := range []string{"verified", "stored and read back 22 bytes", "attestation token"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}

func command(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	return cmd.CombinedOutput()
}

// serve starts `rampart spe serve` on a fresh state directory and returns
// its socket once it accepts connections.
func serve(t *testing.T, rampart string) string {
	dir, err := os.MkdirTemp("", "psac") // socket paths are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o700)
	sock := filepath.Join(dir, "run", "spe.sock")
	// A factory-provisioned device: an attestation key, an implementation ID.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	mfr := filepath.Join(dir, "manufacturer.pem")
	if err := os.WriteFile(mfr, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	if out, err := exec.Command(rampart, "spe", "provision", "--state-dir", filepath.Join(dir, "state"),
		"--implementation-id", hex.EncodeToString(id), "--manufacturer-key", mfr,
		"--endorsement", filepath.Join(dir, "endorsement.json")).CombinedOutput(); err != nil {
		t.Fatalf("spe provision: %v\n%s", err, out)
	}
	cfg, _ := json.Marshal(map[string]any{"socket": sock, "state_dir": filepath.Join(dir, "state"),
		"clients": []map[string]any{{"name": "example", "uid": os.Getuid(), "client_id": -1}}})
	p := filepath.Join(dir, "spe.json")
	if err := os.WriteFile(p, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(rampart, "spe", "serve", "--config", p)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := ipc.Dial(sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("spe serve did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
