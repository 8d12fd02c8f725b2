package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// The isolation test runs `rampart spe serve` under its own user and its
// clients under theirs, all as copies of this test binary started with
// other credentials (TestSpeIsolationHelper is what they run). Each helper
// reports what it observed as JSON on stdout; the test judges.
const (
	isoRoleEnv   = "RAMPART_SPE_ISO_ROLE"
	isoConfigEnv = "RAMPART_SPE_ISO_CONFIG"
)

// isoUsers creates a group and users for one run (removed at the end):
// "spe" runs the SPE, "a" and "b" are clients, "x" is in the socket group
// but has no client rule, "o" is outside the group.
type isoUsers struct {
	group string
	gid   int
	uid   map[string]int
	pgid  map[string]int // each user's own primary group
}

func createIsoUsers(t *testing.T) *isoUsers {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("per-client isolation: needs root to create users and run processes under them")
	}
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("per-client isolation: %s not found (package passwd)", tool)
		}
	}
	var b [3]byte
	rand.Read(b[:])
	tag := "rsi" + hex.EncodeToString(b[:])
	u := &isoUsers{group: tag + "g", uid: map[string]int{}, pgid: map[string]int{}}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	sh("groupadd", u.group)
	t.Cleanup(func() { exec.Command("groupdel", u.group).Run() })
	for _, role := range []string{"spe", "a", "b", "x", "o"} {
		name := tag + role
		args := []string{"useradd", "-M", "-r", "-U", "-s", "/usr/sbin/nologin"}
		if role != "o" {
			args = append(args, "-G", u.group)
		}
		sh(append(args, name)...)
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
		pu, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		u.uid[role], _ = strconv.Atoi(pu.Uid)
		u.pgid[role], _ = strconv.Atoi(pu.Gid)
	}
	g, err := user.LookupGroup(u.group)
	if err != nil {
		t.Fatal(err)
	}
	u.gid, _ = strconv.Atoi(g.Gid)
	return u
}

// cred is the credential of role: its user, its own group, and the socket
// group when it is a member.
func (u *isoUsers) cred(role string) *syscall.Credential {
	c := &syscall.Credential{Uid: uint32(u.uid[role]), Gid: uint32(u.pgid[role])}
	if role != "o" {
		c.Groups = []uint32{uint32(u.gid)}
	}
	return c
}

// isoRig is one run: a directory every test user may read, holding a copy
// of this test binary, the configuration and the SPE's own directory.
type isoRig struct {
	users            *isoUsers
	base, bin, cfg   string
	sock, state, run string
}

func newIsoRig(t *testing.T, u *isoUsers) *isoRig {
	t.Helper()
	base, err := os.MkdirTemp("", "spe-iso")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	r := &isoRig{users: u, base: base, bin: filepath.Join(base, "helper.test"), cfg: filepath.Join(base, "spe.json")}
	speHome := filepath.Join(base, "spe")
	r.run, r.state = filepath.Join(speHome, "run"), filepath.Join(speHome, "state")
	r.sock = filepath.Join(r.run, "spe.sock")
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// The binary of this test, where the test users can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, self, r.bin, 0o755)
	// The SPE's own directory: it makes run/ and state/ inside.
	if err := os.Mkdir(speHome, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(speHome, u.uid["spe"], u.pgid["spe"]); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"socket": r.sock, "socket_group": u.group, "state_dir": r.state,
		"clients": []map[string]any{
			{"name": "a", "uid": u.uid["a"], "client_id": -1},
			{"name": "b", "uid": u.uid["b"], "client_id": -2},
		},
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(r.cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// helper returns the command running role under role's credentials.
func (r *isoRig) helper(role string, extra ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, "-test.run=^TestSpeIsolationHelper$")
	cmd.Dir = r.base
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", isoRoleEnv + "=" + role, isoConfigEnv + "=" + r.cfg}, extra...)
	user := role
	if strings.HasPrefix(role, "probe-") {
		user = strings.TrimPrefix(role, "probe-")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.users.cred(user)}
	return cmd
}

// observe runs role and returns what it reported.
func (r *isoRig) observe(t *testing.T, role string, extra ...string) map[string]string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := r.helper(role, extra...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s: %v\nstdout: %s\nstderr: %s", role, err, out.String(), errb.String())
	}
	i := strings.Index(out.String(), "{")
	j := strings.LastIndex(out.String(), "}")
	got := map[string]string{}
	if i < 0 || j < i || json.Unmarshal(out.Bytes()[i:j+1], &got) != nil {
		t.Fatalf("helper %s reported nothing readable: %q %q", role, out.String(), errb.String())
	}
	return got
}

// TestSpeIsolationBetweenUsers runs the SPE under its own user with a
// socket group, and clients under their own users: client A's keys and
// storage do not exist for client B, no client can read the state
// directory or the hardware unique key, replace the socket, or read the
// SPE's process; a user outside the group cannot connect and one without a
// client rule is refused. Before socket_group, only the SPE's own user
// could connect (0600 socket in a 0700 directory), so per-client isolation
// between users could not be had.
func TestSpeIsolationBetweenUsers(t *testing.T) {
	u := createIsoUsers(t)
	r := newIsoRig(t, u)
	spe := r.helper("spe")
	var speErr bytes.Buffer
	spe.Stdout, spe.Stderr = io.Discard, &speErr
	if err := spe.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- spe.Wait() }()
	t.Cleanup(func() {
		spe.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			spe.Process.Kill()
		}
	})
	// Ready once it answers: root is mapped to no client, so it is refused,
	// but only by a listening SPE.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := ipc.Dial(r.sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("spe serve exited: %v: %s", err, speErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("spe serve never listened: %s", speErr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The modes the model rests on.
	for p, want := range map[string]struct {
		mode     os.FileMode
		uid, gid int
	}{
		r.sock:  {0o660, u.uid["spe"], u.gid},
		r.run:   {0o750, u.uid["spe"], u.gid},
		r.state: {0o700, u.uid["spe"], -1},
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != want.mode || int(st.Uid) != want.uid || (want.gid >= 0 && int(st.Gid) != want.gid) {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", p, fi.Mode().Perm(), st.Uid, st.Gid, want.mode, want.uid, want.gid)
		}
	}
	// The SPE's process is not dumpable: the kernel gives its /proc files
	// to root.
	if fi, err := os.Stat(fmt.Sprintf("/proc/%d/environ", spe.Process.Pid)); err != nil {
		t.Error(err)
	} else if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 0 {
		t.Errorf("the SPE's process is dumpable (its /proc files belong to uid %d)", uid)
	}

	a := r.observe(t, "a")
	if a["generate"] != "ok" || len(a["key"]) != 64 || a["its"] != "ok" || a["ps"] != "ok" {
		t.Fatalf("client A could not use its own keys and storage: %v", a)
	}
	b := r.observe(t, "b", "RAMPART_SPE_ISO_KEY_OF_A="+a["key"])
	for what, want := range map[string]string{
		"export A's key": ipc.ErrInvalidHandle.Error(), "A's key attributes": ipc.ErrInvalidHandle.Error(),
		"list keys": "0", "ITS get A's uid": ipc.ErrDoesNotExist.Error(), "PS get A's uid": ipc.ErrDoesNotExist.Error(),
		"own key 7": "ok",
	} {
		if !strings.Contains(b[what], want) {
			t.Errorf("client B, %s: %q, want %q", what, b[what], want)
		}
	}
	if b["own key differs"] != "true" {
		t.Errorf("client B's key 7 is client A's: %v", b)
	}
	if again := r.observe(t, "a"); again["key"] != a["key"] || again["its get"] != "secret of A" || again["ps get"] != "sealed secret of A" {
		t.Errorf("client B changed client A's key or storage: %v", again)
	}
	probe := r.observe(t, "probe-a", "RAMPART_SPE_ISO_PID="+strconv.Itoa(spe.Process.Pid))
	for _, what := range []string{"list state dir", "read huk", "read a key file", "remove the socket", "create in the socket dir", "read the SPE's memory", "read the SPE's environment"} {
		if !strings.Contains(probe[what], "permission denied") {
			t.Errorf("client A, %s: %q, want permission denied", what, probe[what])
		}
	}
	if x := r.observe(t, "x"); !strings.Contains(x["connect"], ipc.ErrConnectionRefused.Error()) {
		t.Errorf("a group member without a client rule: %v", x)
	}
	if o := r.observe(t, "o"); !strings.Contains(o["connect"], "permission denied") {
		t.Errorf("a user outside the socket group: %v", o)
	}
}

// TestSpeIsolationHelper is what the processes of
// TestSpeIsolationBetweenUsers run; on its own it does nothing.
func TestSpeIsolationHelper(t *testing.T) {
	role := os.Getenv(isoRoleEnv)
	if role == "" {
		t.Skip("helper process of TestSpeIsolationBetweenUsers")
	}
	cfgPath := os.Getenv(isoConfigEnv)
	if role == "spe" {
		env := &Env{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, Getenv: func(string) string { return "" }}
		os.Exit(Main([]string{"spe", "serve", "--config", cfgPath}, env))
	}
	var cfg struct {
		Socket   string `json:"socket"`
		StateDir string `json:"state_dir"`
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil || json.Unmarshal(b, &cfg) != nil {
		fmt.Println(`{"error": "config"}`)
		os.Exit(1)
	}
	seen := map[string]string{}
	note := func(what string, err error) {
		if err == nil {
			seen[what] = "ok"
		} else {
			seen[what] = err.Error()
		}
	}
	dialStorage := func() ipc.Transport {
		c, err := ipc.Dial(cfg.Socket)
		if err != nil {
			note("dial", err)
			return nil
		}
		return c
	}
	switch role {
	case "a":
		c, err := psaclient.Dial(cfg.Socket)
		if err != nil {
			note("connect", err)
			break
		}
		defer c.Close()
		attr := psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Lifetime: psa.LifetimePersistent, ID: 7, Usage: psa.UsageExport}
		_, err = c.GenerateKey(attr)
		if errors.Is(err, ipc.ErrAlreadyExists) {
			err = nil // the second run
		}
		note("generate", err)
		if k, err := c.ExportKey(7); err == nil {
			seen["key"] = hex.EncodeToString(k)
		}
		its, ps := psaclient.NewITS(dialStorage()), psaclient.NewPS(dialStorage())
		if _, err := its.Get(1, 0, 64); errors.Is(err, ipc.ErrDoesNotExist) {
			note("its", its.Set(1, []byte("secret of A"), 0))
			note("ps", ps.Set(1, []byte("sealed secret of A"), 0))
		}
		if v, err := its.Get(1, 0, 64); err == nil {
			seen["its get"] = string(v)
		}
		if v, err := ps.Get(1, 0, 64); err == nil {
			seen["ps get"] = string(v)
		}
	case "b":
		c, err := psaclient.Dial(cfg.Socket)
		if err != nil {
			note("connect", err)
			break
		}
		defer c.Close()
		_, err = c.ExportKey(7)
		note("export A's key", err)
		_, err = c.KeyAttributes(7)
		note("A's key attributes", err)
		if l, err := c.ListKeys(); err == nil {
			seen["list keys"] = strconv.Itoa(len(l))
		}
		_, err = psaclient.NewITS(dialStorage()).Get(1, 0, 64)
		note("ITS get A's uid", err)
		_, err = psaclient.NewPS(dialStorage()).Get(1, 0, 64)
		note("PS get A's uid", err)
		_, err = c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Lifetime: psa.LifetimePersistent, ID: 7, Usage: psa.UsageExport})
		note("own key 7", err)
		k, _ := c.ExportKey(7)
		seen["own key differs"] = strconv.FormatBool(len(k) == 32 && hex.EncodeToString(k) != os.Getenv("RAMPART_SPE_ISO_KEY_OF_A"))
		c.DestroyKey(7)
	case "probe-a":
		_, err := os.ReadDir(cfg.StateDir)
		note("list state dir", err)
		_, err = os.ReadFile(filepath.Join(cfg.StateDir, "huk"))
		note("read huk", err)
		_, err = os.ReadFile(filepath.Join(cfg.StateDir, "keys", "ffffffff-00000007.key"))
		note("read a key file", err)
		note("remove the socket", os.Remove(cfg.Socket))
		f, err := os.Create(filepath.Join(filepath.Dir(cfg.Socket), "fake.sock"))
		if err == nil {
			f.Close()
		}
		note("create in the socket dir", err)
		pid := os.Getenv("RAMPART_SPE_ISO_PID")
		_, err = os.ReadFile("/proc/" + pid + "/environ")
		note("read the SPE's environment", err)
		f, err = os.Open("/proc/" + pid + "/mem")
		if err == nil {
			f.Close()
		}
		note("read the SPE's memory", err)
	case "x", "o":
		_, err := psaclient.Dial(cfg.Socket)
		note("connect", err)
	}
	out, _ := json.Marshal(seen)
	fmt.Println(string(out))
	os.Exit(0)
}
