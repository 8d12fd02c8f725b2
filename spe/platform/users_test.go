package platform_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rampart/ipc"
	"rampart/spe/platform"
	"rampart/spe/sensor"
)

// procUID returns the real uid of process pid.
func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return ""
}

// TestPartitionUsers runs each partition process of level 3 under its own
// uid: the PRoT's state is its user's alone, so an application partition
// cannot read the HUK file, while the services work as before.
func TestPartitionUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running partitions under other uids needs root")
	}
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	// The test's temporary directories must be searchable by the users.
	for d := filepath.Dir(stateDir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, fi.Mode().Perm()|0o001)
		}
	}
	users := map[string]int{platform.GroupPRoT: 64001, "app:" + sensor.Manifest.Name: 64002, "app:" + probeManifest.Name: 64003}
	appsDir := filepath.Join(filepath.Dir(stateDir), "apps")
	// go test's binary sits in a directory only root may enter: the
	// partitions' users run a copy.
	exe := filepath.Join(filepath.Dir(stateDir), "partition.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	command := func(group string) *exec.Cmd {
		cmd := partitionCommand(group)
		cmd.Path, cmd.Args[0] = exe, exe
		return cmd
	}
	e := startIsolated(t, platform.Isolated{Level: 3, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir, AppsDir: appsDir}, Users: users, Command: command})
	for _, r := range e.remotes {
		group := r.Name()
		if strings.HasPrefix(group, "prot:") {
			group = platform.GroupPRoT // level 3's PRoT processes share the PRoT's user
		}
		if got, want := procUID(t, r.PID()), fmt.Sprint(users[group]); got != want {
			t.Errorf("%s runs as uid %s, want %s", r.Name(), got, want)
		}
	}
	serviceRound(t, e)
	c := e.dial(t)
	for path, want := range map[string]ipc.Status{
		filepath.Join(stateDir, platform.HUKFile):         ipc.ErrNotPermitted,
		filepath.Join(appsDir, probeManifest.Name, "own"): ipc.Success,
	} {
		if strings.HasSuffix(path, "own") {
			os.WriteFile(path, []byte("x"), 0o600)
			os.Chown(path, 64003, 64003)
		}
		if st, _ := stateless(t, c, probeSID, probeOpRead, [][]byte{[]byte(path)}); st != want {
			t.Errorf("the probe partition reading %s: %v, want %v", path, st, want)
		}
	}
}
