// Package swtpmtest starts swtpm (a software TPM 2.0) for tests: one
// process per call, on free loopback ports, its state in a temporary
// directory, stopped when the test ends. Tests skip clearly when swtpm is
// not installed (Debian: swtpm swtpm-tools).
//
// It must never be linked into a product binary (the import rules forbid
// it outside test files).
package swtpmtest

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TPM is a running swtpm.
type TPM struct {
	Spec     string // tpm:127.0.0.1:PORT, for rot.Open and --rot
	DataPort int    // raw TPM commands (tpm2-tools: TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=DataPort)
	StateDir string
	cmd      *exec.Cmd
	out      *bytes.Buffer
	exited   chan struct{}
}

// Start runs a new swtpm with an empty state directory.
func Start(t testing.TB) *TPM { return StartWithState(t, t.TempDir()) }

// StartWithState runs swtpm on an existing state directory (a TPM's NV
// memory: its seeds and persistent objects).
func StartWithState(t testing.TB, stateDir string) *TPM {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian: swtpm swtpm-tools): TPM tests skipped")
	}
	var last error
	for range 5 {
		p := freePortPair(t)
		tp := &TPM{Spec: "tpm:127.0.0.1:" + strconv.Itoa(p), DataPort: p, StateDir: stateDir, out: &bytes.Buffer{}}
		tp.cmd = exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+stateDir,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p+1),
			"--flags", "not-need-init,startup-clear")
		tp.cmd.Stdout, tp.cmd.Stderr = tp.out, tp.out
		if err := tp.cmd.Start(); err != nil {
			t.Fatalf("swtpm: %v", err)
		}
		if last = tp.wait(); last == nil {
			t.Cleanup(tp.Stop)
			return tp
		}
		tp.Stop()
	}
	t.Fatalf("swtpm did not start: %v", last)
	return nil
}

// wait polls the data port until swtpm accepts connections.
func (tp *TPM) wait() error {
	deadline := time.Now().Add(10 * time.Second)
	tp.exited = make(chan struct{})
	go func() { tp.cmd.Wait(); close(tp.exited) }()
	for time.Now().Before(deadline) {
		select {
		case <-tp.exited:
			return fmt.Errorf("swtpm exited: %s", tp.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tp.DataPort+1), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("swtpm: no answer on port %d", tp.DataPort)
}

// Stop kills this swtpm (a power cut: what it had not written is lost).
func (tp *TPM) Stop() {
	tp.cmd.Process.Kill()
	select {
	case <-tp.exited:
	case <-time.After(5 * time.Second):
	}
}

// freePortPair finds a loopback port p with p+1 also free.
func freePortPair(t testing.TB) int {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two adjacent free loopback ports")
	return 0
}
