package cli

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"rampart/fleet/store"
	"rampart/sim"
	"rampart/spe"
	"rampart/spe/platform"
)

func TestAgentHelpAndUsage(t *testing.T) {
	code, out, _ := run(t, "agent", "--help")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--enroll-url") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, _, errs := run(t, "agent", "--mqtt", "127.0.0.1:1"); code != ExitUsage || !strings.Contains(errs, "--enroll-url") {
		t.Fatalf("missing flags: %d %q", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if code, _, errs := run(t, "agent", "--enroll-url", "https://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--ca", bad); code != ExitError || !strings.Contains(errs, "no PEM") {
		t.Fatalf("bad CA: %d %q", code, errs)
	}
}

func TestSimCommand(t *testing.T) {
	code, out, errs := run(t, "sim", "--devices", "5", "--update", "--tampered", "1", "--power-cuts", "1", "--quiet")
	if code != ExitOK {
		t.Fatalf("sim: %d %q %q", code, out, errs)
	}
	for _, want := range []string{"onboarded     5", "reporting     5", "updated       4", "tampered refused 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sim output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := run(t, "sim"); code != ExitUsage {
		t.Fatalf("sim without --devices: %d", code)
	}
}

// TestAgentOverSocket runs `rampart agent --once` against an SPE served on
// a Unix socket (as `rampart spe serve` does) and a real fleet server: the
// agent's key is generated in the SPE, enrollment is by attestation, the
// telemetry sample is stored; a second run reuses the key and state.
func TestAgentOverSocket(t *testing.T) {
	dir := shortTempDir(t, "ag")
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v1, err := f.SignFirmware("1.0.0", 4000)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.RegisterRelease(ctx, v1, "test"); err != nil {
		t.Fatal(err)
	}
	d, err := sim.Manufacture(filepath.Join(dir, "d"), 0, f, v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Endorse(ctx, []*sim.Device{d}); err != nil {
		t.Fatal(err)
	}
	dev, err := platform.OpenDevice(filepath.Join(d.Dir, "device"))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	p, err := platform.Open(platform.Options{StateDir: filepath.Join(d.Dir, "spe"), Device: dev,
		Server: spe.Options{Identify: func(uid, pid int) (int32, error) { return -1, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sock := filepath.Join(dir, "run", "spe.sock")
	if err := p.Server.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go p.Server.Serve()
	defer p.Server.Shutdown()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Server.CA().Certificate().Raw}), 0o600)
	args := []string{"agent", "--once", "--json", "--socket", sock, "--dir", filepath.Join(dir, "agent"),
		"--enroll-url", f.EnrollURL, "--mqtt", f.MQTTAddr, "--ca", caFile}
	var ids []string
	for range 2 {
		code, out, errs := run(t, args...)
		if code != ExitOK {
			t.Fatalf("agent --once: %d %s %s", code, out, errs)
		}
		var r struct {
			DeviceID string `json:"device_id"`
			Version  string `json:"running_version"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.DeviceID == "" || r.Version != "1.0.0" {
			t.Fatalf("agent --once output %q: %v", out, err)
		}
		ids = append(ids, r.DeviceID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("second run is another device: %v", ids)
	}
	pts, err := f.Server.Store().Points(ctx, store.PointQuery{DeviceID: ids[0], Metric: "agent_once"})
	if err != nil || len(pts) != 2 {
		t.Fatalf("stored samples %v, %v", pts, err)
	}
}

// TestAgentStopsOnPermanentSPEError: an SPE served without a bootloader
// device cannot make a token. The agent stops at once (no retrying an answer
// that cannot change) with a hint naming --device, and the SPE logs the
// reason the agent only sees as a status.
func TestAgentStopsOnPermanentSPEError(t *testing.T) {
	dir := shortTempDir(t, "ag")
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v1, err := f.SignFirmware("1.0.0", 4000)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sim.Manufacture(filepath.Join(dir, "d"), 0, f, v1)
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var log strings.Builder
	p, err := platform.Open(platform.Options{StateDir: filepath.Join(d.Dir, "spe"),
		Server: spe.Options{Identify: func(uid, pid int) (int32, error) { return -1, nil },
			Logf: func(format string, args ...any) {
				logMu.Lock()
				defer logMu.Unlock()
				fmt.Fprintf(&log, format+"\n", args...)
			}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sock := filepath.Join(dir, "run", "spe.sock")
	if err := p.Server.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go p.Server.Serve()
	defer p.Server.Shutdown()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Server.CA().Certificate().Raw}), 0o600)
	code, out, errs := run(t, "agent", "--once", "--socket", sock, "--dir", filepath.Join(dir, "agent"),
		"--enroll-url", f.EnrollURL, "--mqtt", f.MQTTAddr, "--ca", caFile)
	if code != ExitFailure || !strings.Contains(errs, "PSA_ERROR_SERVICE_FAILURE") || !strings.Contains(errs, "hint:") || !strings.Contains(errs, "--device") {
		t.Fatalf("agent without boot measurements: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if strings.Contains(errs, "attempts") {
		t.Fatalf("agent retried a permanent error: %q", errs)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(log.String(), "no boot measurements") {
		t.Fatalf("SPE log does not say why: %q", log.String())
	}
}

// TestAgentStopsOnUnknownCA: a --ca that is not the fleet's CA is an error
// retrying cannot cure; the hint says which file --ca must be.
func TestAgentStopsOnUnknownCA(t *testing.T) {
	s := startSpeServe(t, "ag")
	defer s.stop(t)
	dir := shortTempDir(t, "ag")
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Mkdir(filepath.Join(dir, "other"), 0o700)
	other, err := sim.StartFleet(sim.FleetOptions{Dir: filepath.Join(dir, "other")})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	caFile := filepath.Join(dir, "other-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Server.CA().Certificate().Raw}), 0o600)
	// --enroll-url as a bare host:port (https assumed).
	code, _, errs := run(t, "agent", "--once", "--socket", s.sock, "--dir", filepath.Join(dir, "agent"),
		"--enroll-url", strings.TrimPrefix(f.EnrollURL, "https://"), "--mqtt", f.MQTTAddr, "--ca", caFile)
	if code != ExitFailure || !strings.Contains(errs, "unknown authority") || !strings.Contains(errs, "hint: --ca") {
		t.Fatalf("agent with another fleet's CA: exit %d, stderr %q", code, errs)
	}
}
