package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/sim"
)

// TestFleetCACLI: status before any rotation, a rotation staged, a second
// one refused while it is under way, the switch at the server's restart,
// and status --wait until the old CA is retired (no device depends on it),
// with the new CA certificate the server writes as clients' --ca.
func TestFleetCACLI(t *testing.T) {
	dir := t.TempDir()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{"RAMPART_FLEET_URL": f.AdminURL, "RAMPART_FLEET_TOKEN": sim.AdminToken, "RAMPART_FLEET_CA": f.Server.CACertFile()}
	if code, out, errs := runCLI(t, env, "fleet", "ca", "status"); code != 0 || !strings.Contains(out, "never rotated") {
		t.Fatalf("status: %d %s %s", code, out, errs)
	}
	if code, out, errs := runCLI(t, env, "fleet", "ca", "rotate", "--rate", "1200"); code != 0 || !strings.Contains(out, "generation 2 staged") {
		t.Fatalf("rotate: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, env, "fleet", "ca", "rotate"); code != ExitFailure || !strings.Contains(errs, "staged already") {
		t.Fatalf("second rotate: %d %s", code, errs)
	}
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	newCA := f.Server.CACertFile()
	if filepath.Base(newCA) != "ca-gen2.crt" {
		t.Fatalf("the server's --ca file is %s", newCA)
	}
	if _, err := os.Stat(newCA); err != nil {
		t.Fatal(err)
	}
	env["RAMPART_FLEET_CA"] = newCA
	if code, out, errs := runCLI(t, env, "fleet", "ca", "status", "--wait", "--timeout", "30s"); code != 0 || !strings.Contains(out, "generation 2 retired") {
		t.Fatalf("status --wait: %d %s %s", code, out, errs)
	}
}
