package repocheck

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeviceBinaryLinksNoServer: a binary that links only the device agent
// carries neither the fleet (its CA, store, broker) nor a database driver,
// counted over every package it reaches, not just its direct imports.
func TestDeviceBinaryLinksNoServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot list the agent's dependencies")
	}
	out, err := exec.Command(goTool, "list", "-deps", "rampart/agent", "rampart/psaclient", "rampart/deviceproto").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps named only %d packages", len(deps))
	}
	for _, d := range deps {
		for _, bad := range []string{"rampart/fleet", "rampart/spe", "rampart/sim", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/mochi-mqtt"} {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("the device side links %s", d)
			}
		}
	}
}
