package spe_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"rampart/spe"
)

// TestSandbox runs spe.Sandbox in a child process and checks, there, that
// what a partition never needs is refused and what it needs still works.
func TestSandbox(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSandboxHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "RAMPART_SPE_SANDBOX_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSandboxHelper") {
		t.Fatalf("sandboxed child: %v\n%s", err, out)
	}
}

func TestSandboxHelper(t *testing.T) {
	dir := os.Getenv("RAMPART_SPE_SANDBOX_DIR")
	if dir == "" {
		t.Skip("run by TestSandbox")
	}
	if err := spe.Sandbox(); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("/bin/true").Run(); !errors.Is(err, unix.EPERM) {
		t.Errorf("exec after the sandbox: %v, want EPERM", err)
	}
	if err := unix.PtraceAttach(os.Getppid()); !errors.Is(err, unix.EPERM) {
		t.Errorf("ptrace: %v, want EPERM", err)
	}
	if err := unix.Unshare(unix.CLONE_NEWUSER); !errors.Is(err, unix.EPERM) {
		t.Errorf("unshare: %v, want EPERM", err)
	}
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); !errors.Is(err, unix.EPERM) {
		t.Errorf("mount: %v, want EPERM", err)
	}
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || nnp != 1 {
		t.Errorf("no_new_privs %d %v", nnp, err)
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("dumpable %d %v", d, err)
	}
	// What a partition does keeps working: files, goroutines, sockets.
	p := filepath.Join(dir, "state")
	if err := os.WriteFile(p, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() { b, _ := os.ReadFile(p); done <- b }()
	if string(<-done) != "ok" {
		t.Error("read back")
	}
	if fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0); err != nil {
		t.Error(err)
	} else {
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
}
