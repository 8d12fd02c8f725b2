package platform_test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"rampart/psaclient"
	"rampart/spe/platform"
)

// TestHopProfile counts what one level-3 round trip costs the SPM (with
// the client, this test's process) and the crypto partition's process:
// system calls, context switches and CPU time of 20,000 generate_random
// calls, through perf stat attached to each process (a counting tracepoint,
// which leaves the spinning lanes spinning, where strace would make every
// wait sleep). A profiling aid for docs/spe-isolation.md section 6; it
// asserts nothing.
//
//	HOP_PROFILE=1 go test ./spe/platform -run TestHopProfile -v
func TestHopProfile(t *testing.T) {
	if os.Getenv("HOP_PROFILE") == "" {
		t.Skip("a profiling aid: run with HOP_PROFILE=1 (needs perf)")
	}
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startIsolatedWith(t, platform.Isolated{Level: 3, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir}}, false)
	c, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		c.GenerateRandom(16)
	}
	pid := e.remote(t, platform.GroupCrypto).PID()
	out := t.TempDir()
	var cmds []*exec.Cmd
	for name, p := range map[string]int{"partition": pid, "spm": os.Getpid()} {
		cmd := exec.Command("perf", "stat", "-e", "raw_syscalls:sys_enter,context-switches,task-clock", "-p", fmt.Sprint(p), "-o", out+"/"+name)
		cmd.Start()
		cmds = append(cmds, cmd)
	}
	time.Sleep(time.Second)
	const n = 20000
	start := time.Now()
	for range n {
		c.GenerateRandom(16)
	}
	t.Logf("%d calls, %v per call (perf stat attached)", n, time.Since(start)/n)
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}
	for _, name := range []string{"partition", "spm"} {
		b, _ := os.ReadFile(out + "/" + name)
		t.Logf("%s:\n%s", name, string(b))
	}
}
