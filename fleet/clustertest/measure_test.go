package clustertest

import (
	"flag"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// On the shared development machine a figure is taken under a lock
// (/tmp/measure.lock) at normal priority while everything else runs
// niced. Onboarding thousands of devices takes many minutes and need not
// be measured, so with -cluster.measure-lock the test is started niced
// (nice -n 19 go test …), does its setup at that priority, and takes the
// lock and the normal priority (renice 0 of every thread of the test
// process, which runs the simulated devices and the NATS servers, and of
// every node) only around the timed part.
var measureLock = flag.String("cluster.measure-lock", "", "benchmark: take this flock (e.g. /tmp/measure.lock) and renice the test process and the nodes to 0 only around the timed failover; start the test niced")

// measured runs f holding -cluster.measure-lock at priority 0, then
// gives both back. Without the flag it just runs f.
func (c *testCluster) measured(t *testing.T, f func()) {
	if *measureLock == "" {
		f()
		return
	}
	lf, err := os.OpenFile(*measureLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("measurement lock: %v", err)
	}
	defer lf.Close()
	asked := time.Now()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("measurement lock: %v", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	old := c.renice(t, 0)
	defer c.renice(t, old)
	logf(t, "measurement lock %s held after %s; load average %s", *measureLock, time.Since(asked).Round(time.Second), loadavg())
	f()
	logf(t, "measurement lock released; load average %s", loadavg())
}

// renice sets the niceness of every thread of the test process and of
// every running node to prio and returns the test process's previous
// one. Linux keeps a niceness per thread (setpriority on a PID changes
// that thread alone), so each task in /proc/PID/task is set; threads made
// later inherit it from the thread that makes them.
func (c *testCluster) renice(t *testing.T, prio int) int {
	old, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatalf("getpriority: %v", err)
	}
	old = 20 - old // the raw syscall answers 20 - nice
	pids := []int{os.Getpid()}
	for _, nd := range c.nodes {
		if nd.running() {
			pids = append(pids, nd.pid())
		}
	}
	for _, pid := range pids {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			t.Fatalf("renice %d: %v", pid, err)
		}
		for _, e := range tasks {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, prio); err != nil && err != syscall.ESRCH {
				t.Fatalf("renice thread %d of %d to %d: %v (lowering the niceness needs CAP_SYS_NICE)", tid, pid, prio, err)
			}
		}
	}
	return old
}
