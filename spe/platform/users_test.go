package platform_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psaclient"
	"rampart/spe"
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

// usersSetup makes a provisioned device whose directories the partitions'
// users can reach, and a command that runs a copy of the test binary they
// may execute.
func usersSetup(t *testing.T) (devDir, stateDir, appsDir string, command func(string) *exec.Cmd) {
	devDir, stateDir = newDevice(t)
	provisionDevice(t, devDir, stateDir)
	// The test's temporary directories must be searchable by the users.
	for d := filepath.Dir(stateDir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, fi.Mode().Perm()|0o001)
		}
	}
	appsDir = filepath.Join(filepath.Dir(stateDir), "apps")
	// go test's binary sits in a directory only root may enter: the
	// partitions' users run a copy.
	exe := filepath.Join(filepath.Dir(stateDir), "partition.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	return devDir, stateDir, appsDir, func(group string) *exec.Cmd {
		cmd := partitionCommand(group)
		cmd.Path, cmd.Args[0] = exe, exe
		return cmd
	}
}

// TestPartitionUsers runs each partition process of level 3 under its own
// uid: the PRoT's state is its user's alone, so an application partition
// cannot read the HUK file, while the services work as before.
func TestPartitionUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running partitions under other uids needs root")
	}
	devDir, stateDir, appsDir, command := usersSetup(t)
	users := map[string]int{platform.GroupPRoT: 64001, "app:" + sensor.Manifest.Name: 64002, "app:" + probeManifest.Name: 64003}
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

// TestUserPerPRoTPartition gives each of level 3's PRoT processes a user of
// its own: each runs as it, the state directory belongs to the root key
// partition's user with mode 0711, every other process owns only its own
// subdirectory (0700, files 0600), so none can read another's files (the
// HUK file is the root key partition's user's alone); the services work
// across them; decommissioning, each process shreds its own state.
func TestUserPerPRoTPartition(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running partitions under other uids needs root")
	}
	devDir, stateDir, appsDir, command := usersSetup(t)
	own := map[string]string{platform.GroupLifecycle: platform.LifecycleDir, platform.GroupCrypto: platform.KeysDir,
		platform.GroupITS: platform.ITSDir, platform.GroupPS: platform.PSDir, platform.GroupAudit: platform.AuditDir,
		platform.GroupAttestation: platform.AttestDir, platform.GroupFWU: platform.FWUDir}
	users := map[string]int{platform.GroupRootKey: 64100, "app:" + sensor.Manifest.Name: 64120, "app:" + probeManifest.Name: 64121}
	uid := 64101
	for g := range own {
		users[g] = uid
		uid++
	}
	spec := platform.Spec{StateDir: stateDir, DeviceDir: devDir, AppsDir: appsDir, LifecycleAdmins: []int32{-1}}
	e := startIsolated(t, platform.Isolated{Level: 3, Spec: spec, Users: users, Command: command})
	for _, r := range e.remotes {
		if got, want := procUID(t, r.PID()), fmt.Sprint(users[r.Name()]); got != want {
			t.Errorf("%s runs as uid %s, want %s", r.Name(), got, want)
		}
	}
	serviceRound(t, e) // crypto, PS through rootkey and ITS, a token through lifecycle and FWU, the sensor
	wantOwner(t, stateDir, users[platform.GroupRootKey], 0o711)
	wantOwner(t, filepath.Join(stateDir, platform.HUKFile), users[platform.GroupRootKey], 0o600)
	for g, d := range own {
		filepath.WalkDir(filepath.Join(stateDir, d), func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return nil
			}
			mode := os.FileMode(0o600)
			if de.IsDir() {
				mode = 0o700
			}
			wantOwner(t, p, users[g], mode)
			return nil
		})
	}
	if err := psaclient.NewLifecycle(e.dial(t)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(stateDir, platform.HUKFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the HUK file after decommissioning: %v", err)
	}
	// Each process emptied its own directory (the state directory is not
	// its to remove an entry from).
	for _, d := range own {
		filepath.WalkDir(filepath.Join(stateDir, d), func(p string, de fs.DirEntry, err error) error {
			if err == nil && d != platform.LifecycleDir && !de.IsDir() {
				t.Errorf("%s left after decommissioning", p)
			}
			return nil
		})
	}
}

// wantOwner checks path's owner and permission bits.
func wantOwner(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || fi.Mode().Perm() != mode {
		t.Errorf("%s: uid %d mode %v, want uid %d mode %v", path, st.Uid, fi.Mode().Perm(), uid, mode)
	}
}

// TestPRoTGroupsConfigurable: every PRoT process of level 3 can be given
// a user in the configuration (spe keeps its own list of the names, as it
// cannot import this package).
func TestPRoTGroupsConfigurable(t *testing.T) {
	for _, g := range []string{platform.GroupRootKey, platform.GroupLifecycle, platform.GroupITS, platform.GroupCrypto,
		platform.GroupPS, platform.GroupAudit, platform.GroupFWU, platform.GroupAttestation} {
		cfg := fmt.Sprintf(`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "isolation": 3, "partition_uids": {%q: 900}}`, g)
		if _, err := spe.ParseConfig("spe.json", []byte(cfg)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
}
