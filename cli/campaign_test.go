package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/agent"
	"rampart/sim"
)

// TestCampaignCLI drives a campaign to two simulated devices through the
// CLI: upload, refused downgrade, create, live status until completed,
// list, refused control of a finished campaign.
func TestCampaignCLI(t *testing.T) {
	dir := t.TempDir()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	caPath := filepath.Join(dir, "ca.pem")
	os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Server.CA().Certificate().Raw}), 0o600)
	env := map[string]string{"RAMPART_FLEET_URL": f.AdminURL, "RAMPART_FLEET_TOKEN": sim.AdminToken, "RAMPART_FLEET_CA": caPath}
	ctx := context.Background()
	v1, _ := f.SignFirmware("1.0.0", 4096)
	v2, _ := f.SignFirmware("2.0.0", 4200)
	v15, _ := f.SignFirmware("1.5.0", 4200)
	if err := f.RegisterRelease(ctx, v1, "factory"); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"v2.bin": v2, "v15.bin": v15} {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	code, out, errs := runCLI(t, env, "campaign", "upload", filepath.Join(dir, "v2.bin"), "--json")
	if code != 0 {
		t.Fatalf("upload: %d %s %s", code, out, errs)
	}
	var rel struct{ Digest []byte }
	json.Unmarshal([]byte(out), &rel)
	if code, _, errs := runCLI(t, env, "campaign", "upload", filepath.Join(dir, "v15.bin")); code != ExitFailure || !strings.Contains(errs, "security counter") {
		t.Fatalf("lower security counter: %d %s", code, errs)
	}
	if code, out, errs := runCLI(t, env, "campaign", "upload", filepath.Join(dir, "v15.bin"), "--force"); code != 0 || !strings.Contains(out, "registered") {
		t.Fatalf("lower security counter with --force: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, env, "campaign", "create", "--id", "none", "--release", hex.EncodeToString(rel.Digest), "--id-prefix", "nobody"); code != ExitFailure || !strings.Contains(errs, "selects no device") {
		t.Fatalf("no targets: %d %s", code, errs)
	}
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	var devs []*sim.Device
	for i := 0; i < 2; i++ {
		d, err := sim.Manufacture(t.TempDir(), i, f, v1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.PowerOn(); err != nil {
			t.Fatal(err)
		}
		defer d.PowerOff()
		devs = append(devs, d)
	}
	if err := f.Endorse(ctx, devs); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		a, err := d.StartAgent(f, sim.AgentOptions{Interval: time.Hour, Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.Run(cctx); close(done) }()
		stops = append(stops, func() { cancel(); <-done })
	}
	for deadline := time.Now().Add(30 * time.Second); f.Server.Broker().Connected() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("devices did not connect")
		}
	}
	code, out, errs = runCLI(t, env, "campaign", "create", "--id", "spring", "--release", hex.EncodeToString(rel.Digest), "--phases", "50,100")
	if code != 0 || !strings.Contains(out, "2 devices in 2 phases") {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, env, "campaign", "status", "spring", "--watch", "--every", "100ms")
	// Not a terminal: plain lines, one per change, no control characters.
	if code != 0 || strings.ContainsAny(out, "\r\x1b") || !strings.HasSuffix(out, "completed         phase 100%   verified 2/2  failed 0  in flight 0  queued 0\n") {
		t.Fatalf("status --watch: %d %q %s", code, out, errs)
	}
	code, out, _ = runCLI(t, env, "campaign", "status", "spring", "--devices", "--json")
	var s adminapi.CampaignSummary
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || len(s.Devices) != 2 || s.Counts[adminapi.Verified] != 2 {
		t.Fatalf("status --json: %d %s", code, out)
	}
	if code, out, _ = runCLI(t, env, "campaign", "list"); code != 0 || !strings.Contains(out, "spring") {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _, errs = runCLI(t, env, "campaign", "pause", "spring"); code != ExitFailure || !strings.Contains(errs, "cannot pause") {
		t.Fatalf("pause a completed campaign: %d %s", code, errs)
	}
	if code, _, _ = runCLI(t, env, "campaign", "status"); code != ExitUsage {
		t.Fatalf("status without an id: %d", code)
	}
}
