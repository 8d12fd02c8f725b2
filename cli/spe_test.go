package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
)

func speWriteConfig(t *testing.T, dir, sock string) string {
	t.Helper()
	return speWriteConfigWith(t, dir, sock, nil)
}

// speWriteConfigWith is speWriteConfig with more top-level fields.
func speWriteConfigWith(t *testing.T, dir, sock string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"socket":    sock,
		"state_dir": filepath.Join(dir, "state"),
		"clients":   []map[string]any{{"name": "tests", "uid": os.Getuid(), "client_id": -1}},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "spe.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpeServeCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := speWriteConfig(t, dir, filepath.Join(dir, "run", "spe.sock"))
	if code, out, errs := run(t, "spe", "serve", "--config", good, "--check-config"); code != ExitOK || !strings.Contains(out, "valid") {
		t.Fatalf("good config: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{\n\"socket\": \"x\",\n\"state_dir\": \"y\",\n\"clients\": [{\"uid\": 1, \"client_id\": 5}]\n}"), 0o600)
	if code, _, errs := run(t, "spe", "serve", "--config", bad, "--check-config"); code != ExitFailure || !strings.Contains(errs, "client_id") {
		t.Fatalf("bad config: %d %q", code, errs)
	}
	noGroup := speWriteConfigWith(t, t.TempDir(), filepath.Join(dir, "spe.sock"), map[string]any{"socket_group": "rampart-no-such-group"})
	if code, _, errs := run(t, "spe", "serve", "--config", noGroup, "--check-config"); code != ExitFailure || !strings.Contains(errs, "socket_group") {
		t.Fatalf("unknown socket group: %d %q", code, errs)
	}
	withGroup := speWriteConfigWith(t, t.TempDir(), filepath.Join(dir, "shared", "spe.sock"), map[string]any{"socket_group": strconv.Itoa(os.Getgid())})
	if code, out, errs := run(t, "spe", "serve", "--config", withGroup, "--check-config"); code != ExitOK || !strings.Contains(out, "valid") {
		t.Fatalf("numeric socket group: %d %q %q", code, out, errs)
	}
	// A socket directory serve would refuse is refused by --check-config too.
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o755)
	openCfg := speWriteConfigWith(t, t.TempDir(), filepath.Join(open, "spe.sock"), nil)
	if code, _, errs := run(t, "spe", "serve", "--config", openCfg, "--check-config"); code != ExitFailure || !strings.Contains(errs, "want 0700") {
		t.Fatalf("socket directory 0755: %d %q", code, errs)
	}
	if code, _, _ := run(t, "spe", "serve", "--config", filepath.Join(dir, "missing.json")); code != ExitError {
		t.Fatalf("missing config: %d", code)
	}
	if code, _, _ := run(t, "spe", "serve"); code != ExitUsage {
		t.Fatalf("no config: %d", code)
	}
	if code, _, errs := run(t, "spe", "status", "--socket", filepath.Join(dir, "nothing.sock")); code != ExitError || !strings.Contains(errs, "hint:") {
		t.Fatalf("status without an SPE: %d %q", code, errs)
	}
}

// TestSpeServeDeviceFlag: the bootloader device is a flag of spe serve,
// shown in its help, with the environment variable as the fallback.
func TestSpeServeDeviceFlag(t *testing.T) {
	code, out, _ := run(t, "spe", "serve", "--help")
	if code != ExitOK || !strings.Contains(out, "--device") || !strings.Contains(out, "RAMPART_SPE_DEVICE") {
		t.Fatalf("spe serve --help lacks --device: %q", out)
	}
	dir := shortTempDir(t, "dv")
	cfg := speWriteConfig(t, dir, filepath.Join(dir, "run", "spe.sock"))
	code, _, errs := run(t, "spe", "serve", "--config", cfg, "--device", filepath.Join(dir, "no-such-device"))
	if code != ExitError || !strings.Contains(errs, "no-such-device") {
		t.Fatalf("spe serve --device on a missing directory: %d %q", code, errs)
	}
}

// TestSpeServeStatusKeys runs `rampart spe serve` for real, talks to it with
// status and keys, and stops it with SIGTERM.
func TestSpeServeStatusKeys(t *testing.T) {
	spe := startSpeServe(t, "spe-cli")
	sock := spe.sock
	c, err := psaclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{0xa7}, 32)
	if _, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeHMAC, Lifetime: psa.LifetimePersistent, ID: 9, Usage: psa.UsageSignMessage, Algorithm: psa.AlgHMAC(psa.AlgSHA256)}, secret); err != nil {
		t.Fatal(err)
	}
	c.Close()

	code, out, errs := run(t, "spe", "keys", "--socket", sock, "--json")
	if code != ExitOK {
		t.Fatalf("keys: %d %q", code, errs)
	}
	var keys []speKey
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 || keys[0].ID != 9 || keys[0].Lifetime != "persistent" || keys[0].Bits != 256 {
		t.Fatalf("keys: %q %v", out, err)
	}
	if strings.Contains(strings.ToLower(out), "a7a7a7a7") {
		t.Fatal("keys printed key material")
	}
	code, out, errs = run(t, "spe", "status", "--socket", sock)
	if code != ExitOK || !strings.Contains(out, "0x00000080") || !strings.Contains(out, "RAMPART_SP_CRYPTO") {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	spe.stop(t)
}
