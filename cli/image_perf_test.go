package cli

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

var (
	imagePerf     = flag.Bool("image.perf", false, "run TestImageToolSpeed: whole-process sign + verify of a 16 MiB image, rampart against imgtool, interleaved")
	imagePerfRuns = flag.Int("image.runs", 15, "pairs of runs for TestImageToolSpeed")
	imagePerfBase = flag.String("image.base", "", "a second rampart binary (an older build) run in the same pairs as a baseline")
)

// TestImageToolSpeed is the image tool's whole-process benchmark (the
// goal: 10× imgtool). It builds the rampart binary as it is shipped
// (CGO_ENABLED=0, one static binary), then runs, in turn, rampart's and
// imgtool's `sign` then `verify` of the same 16 MiB firmware with the same
// Ed25519 key, and prints the median wall and CPU time (user + system of the
// two child processes, from the kernel's accounting) and the ratios pair by
// pair. Outputs are moved aside, not deleted, between runs, so that neither
// tool pays for freeing the previous file's pages (as hyperfine's
// --prepare would). It asserts nothing about time; it fails only if a
// command fails or the two tools' images differ.
func TestImageToolSpeed(t *testing.T) {
	if !*imagePerf {
		t.Skip("whole-process benchmark: run with -image.perf (needs RAMPART_IMGTOOL)")
	}
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rampart")
	build := exec.Command("go", "build", "-o", bin, "rampart/cmd/rampart")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	in := filepath.Join(dir, "in16.bin")
	fw := make([]byte, 16<<20)
	rand.Read(fw)
	if err := os.WriteFile(in, fw, 0o644); err != nil {
		t.Fatal(err)
	}
	key, _ := filepath.Abs("../image/testdata/mcuboot/ed25519.pem")
	signArgs := func(out string) []string {
		return []string{"sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1.2.3", "-S", "0x1100000", in, out}
	}
	python := os.Getenv("RAMPART_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	tools := []imageTool{
		{name: "rampart", out: filepath.Join(dir, "r.bin"), cmd: func(args ...string) *exec.Cmd {
			return exec.Command(bin, append([]string{"image"}, args...)...)
		}},
		{name: "imgtool", out: filepath.Join(dir, "i.bin"), cmd: func(args ...string) *exec.Cmd {
			return exec.Command(python, append([]string{tool}, args...)...)
		}},
	}
	if *imagePerfBase != "" {
		base := *imagePerfBase
		tools = append(tools, imageTool{name: "rampart (base)", out: filepath.Join(dir, "b.bin"), cmd: func(args ...string) *exec.Cmd {
			return exec.Command(base, append([]string{"image"}, args...)...)
		}})
	}
	trash := filepath.Join(dir, "trash")
	os.Mkdir(trash, 0o755)
	t.Logf("load average before: %s", loadAverage())
	for run := -1; run < *imagePerfRuns; run++ { // run -1: warm-up, not counted
		for i := range tools {
			tl := &tools[i]
			os.Rename(tl.out, filepath.Join(trash, fmt.Sprintf("%d-%d", i, run)))
			wall, cpu := tl.run(t, signArgs(tl.out), []string{"verify", "-k", key, tl.out})
			if run >= 0 {
				tl.wall, tl.cpu = append(tl.wall, wall), append(tl.cpu, cpu)
			}
		}
		os.RemoveAll(trash)
		os.Mkdir(trash, 0o755)
	}
	t.Logf("load average after: %s", loadAverage())
	a, _ := os.ReadFile(tools[0].out)
	b, _ := os.ReadFile(tools[1].out)
	if string(a) != string(b) {
		t.Errorf("rampart's and imgtool's signed images differ")
	}
	for _, tl := range tools {
		t.Logf("%-15s sign+verify, median of %d: wall %v, cpu %v", tl.name, len(tl.wall), median(tl.wall), median(tl.cpu))
	}
	for i, tl := range tools[1:] {
		goal := "goal 10×"
		if i > 0 {
			goal = "the change"
		}
		t.Logf("%s ÷ rampart, median of the pairs' ratios: wall %.2f×, cpu %.2f× (%s)",
			tl.name, pairRatio(tl.wall, tools[0].wall), pairRatio(tl.cpu, tools[0].cpu), goal)
	}
}

// imageTool is one side of TestImageToolSpeed.
type imageTool struct {
	name      string
	out       string
	cmd       func(args ...string) *exec.Cmd
	wall, cpu []time.Duration
}

// run runs sign then verify and returns their summed wall and CPU time.
func (tl *imageTool) run(t *testing.T, steps ...[]string) (wall, cpu time.Duration) {
	t.Helper()
	for _, args := range steps {
		c := tl.cmd(args...)
		start := time.Now()
		out, err := c.CombinedOutput()
		wall += time.Since(start)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tl.name, args, err, out)
		}
		cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	return wall, cpu
}

// median of d (d is not modified).
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// pairRatio is the median over pairs of num[i]/den[i].
func pairRatio(num, den []time.Duration) float64 {
	r := make([]float64, len(num))
	for i := range num {
		r[i] = float64(num[i]) / float64(den[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// loadAverage is the first three fields of /proc/loadavg, or the OS name
// where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return runtime.GOOS + ": no /proc/loadavg"
	}
	var a, b1, c string
	fmt.Sscan(string(b), &a, &b1, &c)
	return a + " " + b1 + " " + c
}
