package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/attest"
	"rampart/fleet"
	"rampart/image"
)

func fleetPEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestFleetCLI(t *testing.T) {
	dir := t.TempDir()
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rel, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mder, _ := x509.MarshalPKCS8PrivateKey(mfr)
	fleetPEM(t, filepath.Join(dir, "acme.pem"), "PRIVATE KEY", mder)
	mpub, _ := x509.MarshalPKIXPublicKey(&mfr.PublicKey)
	fleetPEM(t, filepath.Join(dir, "acme.pub.pem"), "PUBLIC KEY", mpub)
	rpub, _ := x509.MarshalPKIXPublicKey(&rel.PublicKey)
	fleetPEM(t, filepath.Join(dir, "release.pub.pem"), "PUBLIC KEY", rpub)
	admin, viewer := "admin-tok", "viewer-tok"
	cfgText := fmt.Sprintf(`data_dir: data
listen: {enroll: "127.0.0.1:0", admin: "127.0.0.1:0", mqtt: "127.0.0.1:0"}
manufacturers: [{name: acme, public_key: acme.pub.pem}]
release_keys: [release.pub.pem]
api_tokens:
  - {name: root, role: admin, sha256: %s}
  - {name: dash, role: viewer, sha256: %s}
log: {level: error}
`, fleet.TokenSHA256(admin), fleet.TokenSHA256(viewer))
	cfgPath := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgPath, []byte(cfgText), 0o600)

	if code, out, errs := runCLI(t, nil, "server", "--config", cfgPath, "--check-config"); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("check-config: %d %s %s", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("data_dir: d\nca:\n  cert_ttl: 1s\n"), 0o600)
	if code, _, errs := runCLI(t, nil, "server", "--config", bad, "--check-config"); code != ExitFailure || !strings.Contains(errs, "bad.yaml:3:3: ca.cert_ttl") {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, nil, "server", "token", "--name", "x", "--role", "operator"); code != 0 || !strings.Contains(out, "role: operator, sha256: ") {
		t.Fatalf("token: %d %s", code, out)
	}

	cfg, err := fleet.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fleet.New(cfg, fleet.Options{Passphrase: []byte("a passphrase for the test CA"), Rand: rand.Reader, LogOutput: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	env := map[string]string{"RAMPART_FLEET_URL": srv.AdminURL(), "RAMPART_FLEET_TOKEN": admin, "RAMPART_FLEET_CA": filepath.Join(dir, "data", "ca.crt")}
	viewerEnv := map[string]string{"RAMPART_FLEET_URL": srv.AdminURL(), "RAMPART_FLEET_TOKEN": viewer, "RAMPART_FLEET_CA": filepath.Join(dir, "data", "ca.crt")}

	// Endorsements: sign offline, import, list.
	iak, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l := &attest.EndorsementList{}
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, Comment: "unit 1"})
	var lb bytes.Buffer
	l.WriteJSON(&lb)
	os.WriteFile(filepath.Join(dir, "list.json"), lb.Bytes(), 0o600)
	signed := filepath.Join(dir, "list.cose")
	code, _, errs := runCLI(t, nil, "fleet", "endorsements", "sign", "--key", filepath.Join(dir, "acme.pem"), "--manufacturer", "acme", "--out", signed, filepath.Join(dir, "list.json"))
	if code != 0 {
		t.Fatalf("sign: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, viewerEnv, "fleet", "endorsements", "import", signed); code != ExitFailure || !strings.Contains(errs, "403") {
		t.Fatalf("viewer import: %d %s", code, errs)
	}
	// The retired JSON wrapper is refused with how to re-sign it.
	if code, _, errs := runCLI(t, env, "fleet", "endorsements", "import", "../attest/testdata/signed-endorsements-legacy.json"); code != ExitFailure || !strings.Contains(errs, "rampart fleet endorsements sign") {
		t.Fatalf("legacy import: %d %s", code, errs)
	}
	if code, out, errs := runCLI(t, env, "fleet", "endorsements", "import", signed); code != 0 || !strings.Contains(out, "1 added") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	code, out, _ := runCLI(t, viewerEnv, "fleet", "devices", "list", "--json")
	var devs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &devs) != nil || len(devs) != 1 || devs[0]["state"] != "registered" {
		t.Fatalf("devices list: %d %s", code, out)
	}
	id := devs[0]["id"].(string)
	// Releases.
	res, err := image.Sign(bytes.Repeat([]byte{1}, 1000), &image.SignOptions{Key: rel, HeaderSize: 0x200, PadHeader: true, BootRecord: "NSPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.bin"), res.Bytes, 0o600)
	if code, out, errs := runCLI(t, env, "fleet", "releases", "register", filepath.Join(dir, "app.bin")); code != 0 || !strings.Contains(out, "registered NSPE 0.0.0") {
		t.Fatalf("register: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, env, "fleet", "releases", "register", filepath.Join(dir, "list.json")); code != ExitFailure {
		t.Fatalf("register non-image: %d %s", code, errs)
	}
	// Nodes: a server without a cluster: section lists itself.
	code, out, _ = runCLI(t, viewerEnv, "fleet", "nodes", "--json")
	var nodes []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &nodes) != nil || len(nodes) != 1 || !strings.Contains(fmt.Sprint(nodes[0]["version"]), "schema") || nodes[0]["devices"] != 0.0 {
		t.Fatalf("nodes --json: %d %s", code, out)
	}
	if code, out, errs := runCLI(t, viewerEnv, "fleet", "nodes"); code != 0 || !strings.HasPrefix(out, "NODE ") || !strings.Contains(out, fmt.Sprint(nodes[0]["name"])) {
		t.Fatalf("nodes: %d %s %s", code, out, errs)
	}
	// Lifecycle and its refusals.
	if code, _, _ := runCLI(t, env, "fleet", "devices", "suspend", id); code != ExitUsage {
		t.Fatalf("suspend without reason: %d", code)
	}
	if code, out, errs := runCLI(t, env, "fleet", "devices", "suspend", id, "--reason", "lost"); code != 0 || !strings.Contains(out, "suspended") {
		t.Fatalf("suspend: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, env, "fleet", "devices", "show", "nope"); code != ExitFailure || !strings.Contains(errs, "rampart: no device nope\n") {
		t.Fatalf("show unknown: %d %q", code, errs)
	}
	// --server as a bare host:port; without --ca the unknown authority has a hint.
	bare := strings.TrimPrefix(srv.AdminURL(), "https://")
	if code, out, errs := runCLI(t, env, "fleet", "--server", bare, "devices", "show", id); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("--server %s: %d %s %s", bare, code, out, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"RAMPART_FLEET_TOKEN": admin}, "fleet", "--server", bare, "devices", "list"); code != ExitError || !strings.Contains(errs, "unknown authority") || !strings.Contains(errs, "hint: give the fleet CA certificate with --ca") {
		t.Fatalf("no --ca: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, env, "fleet", "audit", "--subject", id); code != 0 || !strings.Contains(out, "device.suspend") {
		t.Fatalf("audit: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, env, "fleet", "telemetry", "--device", id); code != 0 || !strings.HasPrefix(out, "device_id,metric,time,value") {
		t.Fatalf("telemetry: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, map[string]string{}, "fleet", "devices", "list"); code != ExitUsage {
		t.Fatalf("no server: %d", code)
	}

	// Progress of large transfers: on standard error only, plain lines
	// when it is not a terminal, nothing with --quiet. progressAfter 0
	// shows even these small transfers.
	defer func(d time.Duration) { progressAfter = d }(progressAfter)
	progressAfter = 0
	code, out, errs = runCLI(t, env, "fleet", "telemetry", "--device", id)
	if code != 0 || !strings.HasPrefix(out, "device_id,metric,time,value") || !strings.HasPrefix(errs, "telemetry export: received ") || strings.Contains(errs, "\r") || strings.Contains(out, "received") {
		t.Fatalf("telemetry with progress: %d stdout %q stderr %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, env, "fleet", "telemetry", "-q", "--device", id); code != 0 || errs != "" || !strings.HasPrefix(out, "device_id,metric") {
		t.Fatalf("telemetry -q: %d stdout %q stderr %q", code, out, errs)
	}
	size := len(res.Bytes)
	if code, _, errs := runCLI(t, env, "fleet", "releases", "register", filepath.Join(dir, "app.bin")); code != ExitFailure || !strings.Contains(errs, fmt.Sprintf("upload app.bin: sent %s of %s (100%%)", fmtBytes(int64(size)), fmtBytes(int64(size)))) {
		t.Fatalf("register again with progress: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, env, "fleet", "endorsements", "import", signed); code != 0 || !strings.Contains(errs, "endorsements import: sent ") || !strings.Contains(errs, "(100%), received ") {
		t.Fatalf("import with progress: %d %s", code, errs)
	}
	if code, out, errs := runCLI(t, env, "fleet", "audit", "--json"); code != 0 || !strings.HasPrefix(errs, "audit: received ") || !strings.HasPrefix(out, "[") {
		t.Fatalf("audit with progress: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, env, "fleet", "audit", "--quiet"); code != 0 || errs != "" {
		t.Fatalf("audit --quiet: %d %s", code, errs)
	}
}

func TestFmtTransfer(t *testing.T) {
	for in, want := range map[adminapi.Transfer]string{
		{Done: 512, Total: -1}:          "512 B",
		{Done: 3 << 19, Total: 4 << 20}: "1.5 MiB of 4.0 MiB (37%)",
		{Done: 2048, Total: 2048}:       "2.0 KiB of 2.0 KiB (100%)",
		{Done: 5 << 30, Total: 0}:       "5.0 GiB",
	} {
		if got := fmtTransfer(in); got != want {
			t.Errorf("%+v: %q, want %q", in, got, want)
		}
	}
}

// TestFleetTimeFlagsChecked: a time flag that is neither RFC 3339 nor Unix
// milliseconds is a usage error, found before any request is sent.
func TestFleetTimeFlagsChecked(t *testing.T) {
	env := map[string]string{"RAMPART_FLEET_URL": "https://127.0.0.1:1"}
	for _, args := range [][]string{
		{"fleet", "audit", "--since", "yesterday"},
		{"fleet", "telemetry", "--from", "soon"},
		{"fleet", "telemetry", "--to", "2026-13-01"},
	} {
		if code, _, errs := runCLI(t, env, args...); code != ExitUsage || !strings.Contains(errs, "accepted: 2026-11-25T08:00:00Z (RFC 3339), 2026-11-25 (a UTC date), 24h") {
			t.Errorf("%v: %d %s", args, code, errs)
		}
	}
	for _, v := range []string{"1764086400000", "2026-11-25", "24h", "now", "2026-11-25T08:00:00Z"} {
		if code, _, errs := runCLI(t, env, "fleet", "audit", "--since", v); code != ExitError || !strings.Contains(errs, "adminapi:") {
			t.Errorf("valid --since %s: %d %s (want the unreachable server's error)", v, code, errs)
		}
	}
}

// TestFleetServerFlag: --server takes a bare host:port (https assumed) or
// a URL; anything else is a usage error saying what is wanted.
func TestFleetServerFlag(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:8444": "https://127.0.0.1:8444", "https://fleet.example:8444": "https://fleet.example:8444", "fleet.example:1/": "https://fleet.example:1/"} {
		if got, err := fleetServerURL(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://x:1", "https://", "%zz:1"} {
		if _, err := fleetServerURL(bad); err == nil || !strings.Contains(err.Error(), "host:port (https is assumed)") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
