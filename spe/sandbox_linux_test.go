package spe_test

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"rampart/spe"
)

// TestSandbox runs spe.Sandbox in a child process and checks, there, that
// what a partition never needs is refused and what it needs still works;
// then SandboxProfile(NoFiles), where opening any file is refused too.
func TestSandbox(t *testing.T) {
	for _, profile := range []string{"files", "nofiles"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSandboxHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "RAMPART_SPE_SANDBOX_DIR="+t.TempDir(), "RAMPART_SPE_SANDBOX_PROFILE="+profile)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSandboxHelper") {
			t.Fatalf("sandboxed child (%s): %v\n%s", profile, err, out)
		}
	}
}

func TestSandboxHelper(t *testing.T) {
	dir := os.Getenv("RAMPART_SPE_SANDBOX_DIR")
	if dir == "" {
		t.Skip("run by TestSandbox")
	}
	p := filepath.Join(dir, "state")
	if err := os.WriteFile(p, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	profile := spe.WithFiles
	if os.Getenv("RAMPART_SPE_SANDBOX_PROFILE") == "nofiles" {
		profile = spe.NoFiles
	}
	if err := spe.SandboxProfile(profile); err != nil {
		t.Fatal(err)
	}
	refused := map[string]error{}
	refused["exec"] = exec.Command("/bin/true").Run()
	refused["ptrace"] = unix.PtraceAttach(os.Getppid())
	refused["unshare"] = unix.Unshare(unix.CLONE_NEWUSER)
	refused["mount"] = unix.Mount("none", dir, "tmpfs", 0, "")
	_, refused["socket"] = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	_, refused["socketpair"] = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	var uts unix.Utsname
	refused["uname (harmless, but not on the allow list)"] = unix.Uname(&uts)
	_, refused["prctl"] = unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if profile == spe.NoFiles {
		_, refused["open an existing file"] = os.ReadFile(p)
		refused["create a file"] = os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o600)
	}
	for what, err := range refused {
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("%s after the sandbox: %v, want EPERM", what, err)
		}
	}
	// A lane's reader publishes the CPU it runs on (internal/shmring).
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		t.Errorf("getcpu after the sandbox: %v", e)
	}
	// What a partition does keeps working: goroutines on new threads,
	// timers, randomness, and with files its state.
	done := make(chan bool)
	for range 8 {
		go func() {
			runtime.LockOSThread() // a new thread: clone with CLONE_THREAD
			time.Sleep(time.Millisecond)
			_, err := rand.Read(make([]byte, 16))
			done <- err == nil
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a goroutine on its own thread failed")
		}
	}
	if profile == spe.WithFiles {
		if err := os.WriteFile(p+".new", []byte("ok"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "ok" {
			t.Errorf("read back: %q %v", b, err)
		}
		// The kernel's view: no_new_privs, and a filter in force.
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("/proc/self/status lacks %q", want)
			}
		}
	}
}
