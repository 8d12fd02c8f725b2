// Package proc reads a process's resource use (CPU time, resident memory,
// open-file limit) for the simulator's report and the benchmarks that
// compare a server's cost per operation with its load generator's. It reads
// the kernel's figures (getrusage, Linux /proc); it must never change
// anything about the process it reads.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is this process's user plus system CPU time so far (0 if the kernel
// will not say).
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MaxRSS is this process's peak resident memory in bytes.
func MaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// ClockTick is the unit of CPUTicks (USER_HZ, 100 on Linux).
const ClockTick = 10 * time.Millisecond

// CPUTicks is the user plus system CPU time of process pid in clock ticks,
// from /proc/<pid>/stat.
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" closing the command name: state is field 3,
	// utime 14 and stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: /proc/%d/stat: %d fields after the command name, want 13 or more", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc: /proc/%d/stat: utime %q, stime %q: not numbers", pid, f[11], f[12])
	}
	return u + s, nil
}

// ThreadCPU is the time on CPU of every thread of process pid, summed
// from /proc/<pid>/task/*/schedstat (nanoseconds, unlike CPUTicks' clock
// ticks: fine enough for the microsecond round trips of the SPE
// benchmarks). Threads that end while it reads are left out.
func ThreadCPU(pid int) (time.Duration, error) {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, d := range dirs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc: /proc/%d/task/%s/schedstat: %q is not a number", pid, d.Name(), f[0])
		}
		sum += v
	}
	return time.Duration(sum), nil
}

// RSSKB is the resident memory of process pid in kilobytes (VmRSS).
func RSSKB(pid int) (int64, error) {
	v, err := statusField(pid, "VmRSS:")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
}

// OpenFileLimit is the soft RLIMIT_NOFILE of process pid (1<<40 when
// unlimited).
func OpenFileLimit(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Max open files"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				if f[0] == "unlimited" {
					return 1 << 40, nil
				}
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("proc: pid %d: no open-file limit in /proc/%d/limits", pid, pid)
}

func statusField(pid int, name string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name); ok && len(strings.Fields(v)) > 0 {
			return v, nil
		}
	}
	return "", fmt.Errorf("proc: pid %d: no %s in /proc/%d/status", pid, strings.TrimSuffix(name, ":"), pid)
}
