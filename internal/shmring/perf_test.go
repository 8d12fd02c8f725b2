//go:build linux

package shmring

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"rampart/internal/proc"
)

var (
	perf       = flag.Bool("perf", false, "run TestCrossProcessEcho")
	perfOps    = flag.Int("perf.ops", 20000, "round trips per measurement in TestCrossProcessEcho")
	perfRounds = flag.Int("perf.rounds", 3, "rounds of TestCrossProcessEcho")
)

// TestCrossProcessEcho measures a lane's round trip between this process
// and a child (as the SPE and its client are), with the caller's waiter
// Apart and not, in alternating rounds (a new child each): the wall time
// and the CPU both processes spent per round trip, how often the two
// threads shared a CPU (sampled every 16 round trips), and the waits each
// side met spinning, slept, and the caller's moves. It asserts nothing
// about time.
//
//	go test ./internal/shmring -run TestCrossProcessEcho -perf -v
func TestCrossProcessEcho(t *testing.T) {
	if !*perf {
		t.Skip("pass -perf to measure")
	}
	t.Logf("load average before: %s; spin %v", loadavg(), SpinFromEnv())
	for r := range *perfRounds {
		for _, apart := range []bool{false, true} {
			t.Logf("round %d, apart %-5v: %s", r+1, apart, echoRound(t, apart))
		}
	}
	t.Logf("load average after: %s", loadavg())
}

// echoRound runs one measurement against a new child.
func echoRound(t *testing.T, apart bool) string {
	r, files, err := Create("echo", 1, DefaultSlot)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEchoChild$")
	cmd.Env = append(os.Environ(), "SHMRING_ECHO_CHILD=1")
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	CloseFiles(files)
	r.Rearm()
	lane := r.Lanes()[0]
	w := NewWaiter(SpinFromEnv())
	w.Apart = apart
	var last uint32
	var buf []byte
	req := make([]byte, 64)
	same, calls := 0, 0
	call := func() {
		lane.Req.Put(req)
		if last, buf, err = lane.Rep.Take(last, buf, w, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if calls++; calls%16 == 0 {
			if c, _ := cpuNow(); c == int(buf[0])-1 {
				same++
			}
		}
	}
	for range 1000 {
		call()
	}
	w.Spun.Store(0)
	w.Slept.Store(0)
	w.Moved.Store(0)
	same, calls = 0, 0
	c0, p0 := selfCPU(), procCPU(cmd.Process.Pid)
	start := time.Now()
	for range *perfOps {
		call()
	}
	wall := time.Since(start)
	cpu := selfCPU() - c0 + procCPU(cmd.Process.Pid) - p0
	lane.Req.Put(nil) // an empty frame ends the child
	b := make([]byte, 256)
	n, _ := out.Read(b)
	cmd.Wait()
	return fmt.Sprintf("%6.2f µs wall, %6.2f µs CPU a round trip (both processes); same CPU %d/%d; caller's waits spun %d slept %d, moved %d; server's %s",
		float64(wall.Nanoseconds())/1e3/float64(*perfOps), float64(cpu)/1e3/float64(*perfOps), same, calls/16,
		w.Spun.Load(), w.Slept.Load(), w.Moved.Load(), strings.SplitN(string(b[:n]), "\n", 2)[0])
}

// TestEchoChild is TestCrossProcessEcho's server: it answers each frame
// with one naming the CPU it runs on (sampled every 16 frames).
func TestEchoChild(t *testing.T) {
	if os.Getenv("SHMRING_ECHO_CHILD") == "" {
		t.Skip("the child of TestCrossProcessEcho")
	}
	r, err := Open([]int{3, 4, 5}, 1, DefaultSlot)
	if err != nil {
		t.Fatal(err)
	}
	lane := r.Lanes()[0]
	w := NewWaiter(SpinFromEnv())
	var last uint32
	var buf []byte
	rep := make([]byte, 64)
	n := 0
	for {
		last, buf, err = lane.Req.Take(last, buf, w, nil, time.Time{})
		if err != nil || len(buf) == 0 {
			break
		}
		if n++; n == 1000 {
			w.Spun.Store(0)
			w.Slept.Store(0)
		}
		if n%16 == 15 {
			c, _ := cpuNow()
			rep[0] = byte(c + 1)
		}
		lane.Rep.Put(rep)
	}
	fmt.Printf("waits spun %d slept %d\n", w.Spun.Load(), w.Slept.Load())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// selfCPU is this process's user and system time in ns.
func selfCPU() int64 { return int64(proc.CPU()) }

// procCPU is the time on CPU of every thread of process pid, in ns (0
// when it cannot be read).
func procCPU(pid int) int64 {
	d, _ := proc.ThreadCPU(pid)
	return int64(d)
}
