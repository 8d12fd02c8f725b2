package fleet

// Process figures for the load test, read from /proc (Linux): CPU time,
// resident memory, open-file limits; and the summary table.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"rampart/internal/proc"
)

// cpuTicksOf is the user+system CPU time of process pid in clock ticks,
// 0 when it cannot be read (the process is gone).
func cpuTicksOf(pid int) int64 {
	n, _ := proc.CPUTicks(pid)
	return n
}

// cpuTicks is cpuTicksOf, failing the test when pid cannot be read.
func cpuTicks(t *testing.T, pid int) int64 {
	n, err := proc.CPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ticksSec converts clock ticks to seconds.
func ticksSec(n int64) float64 { return (time.Duration(n) * proc.ClockTick).Seconds() }

func rssKB(t *testing.T, pid int) int64 {
	kb, err := proc.RSSKB(pid)
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// openFileLimit is the soft RLIMIT_NOFILE of process pid.
func openFileLimit(pid int) (int64, error) { return proc.OpenFileLimit(pid) }

// ensureFiles raises this process's soft open-file limit to at least
// need when the hard limit allows, and fails the test when it does not.
func ensureFiles(t *testing.T, need int64, what string) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if int64(rl.Cur) >= need {
		return
	}
	if int64(rl.Max) < need {
		t.Fatalf("%s needs %d open files; the limit is %d (hard %d): lower -fleet.devices", what, need, rl.Cur, rl.Max)
	}
	rl.Cur = uint64(need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
}

// findProcess is the pid of the only process whose command is name, 0
// when there is none or several.
func findProcess(name string) int {
	matches, _ := filepath.Glob("/proc/[0-9]*/comm")
	pid := 0
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil || strings.TrimSpace(string(b)) != name {
			continue
		}
		if pid != 0 {
			return 0
		}
		pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(m)))
	}
	return pid
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// summary collects the load test's figures for the final table.
type summary struct{ rows [][3]string }

func (s *summary) add(measure, value, goal string) {
	s.rows = append(s.rows, [3]string{measure, value, goal})
}

func (s *summary) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "measure\tmeasured\tgoal")
	for _, r := range s.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	w.Flush()
	return b.String()
}

// verdict says whether got meets a goal of at least (atLeast) or at most
// want.
func verdict(got, want float64, atLeast bool) string {
	if atLeast == (got >= want) {
		return "met"
	}
	return "missed"
}

// thousands formats n with thousands separators.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
