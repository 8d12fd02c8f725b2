package cli

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// firstDeviceSkip marks a block of docs/first-device.md the test does not
// run (building the binary: the test builds it once itself).
const firstDeviceSkip = "<!-- first-device-test: skip"

// shellBlocks returns the ```sh blocks of a Markdown document in order,
// leaving out those right after a firstDeviceSkip comment.
func shellBlocks(doc string) (run, skipped []string) {
	var cur []string
	in, skip := false, false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.HasPrefix(line, firstDeviceSkip):
			skip = true
		case !in && line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			if skip {
				skipped = append(skipped, strings.Join(cur, "\n"))
			} else {
				run = append(run, strings.Join(cur, "\n"))
			}
			skip = false
		case in:
			cur = append(cur, line)
		case strings.TrimSpace(line) != "":
			skip = false
		}
	}
	return run, skipped
}

func TestShellBlocks(t *testing.T) {
	doc := "text\n```sh\na\nb\n```\n" + firstDeviceSkip + " (why) -->\n```sh\nbuild\n```\n```text\nnot shell\n```\n```sh\nc\n```\n"
	run, skipped := shellBlocks(doc)
	if strings.Join(run, "|") != "a\nb|c" || strings.Join(skipped, "|") != "build" {
		t.Fatalf("run %q skipped %q", run, skipped)
	}
}

// TestFirstDeviceDocument runs the commands of docs/first-device.md, exactly
// as written and in order, in a fresh directory with the rampart binary
// built from this tree on PATH: a real fleet server, SPE and agent, an
// onboarded device that reports telemetry and is updated by a campaign. The
// servers the document starts in the background are stopped with their
// process group when the test ends. -short skips it.
func TestFirstDeviceDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the first-device walkthrough builds the binary and runs three servers")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found: the walkthrough's commands are shell")
	}
	doc, err := os.ReadFile("../docs/first-device.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, skipped := shellBlocks(string(doc))
	if len(blocks) < 8 || len(skipped) != 1 {
		t.Fatalf("docs/first-device.md: %d runnable sh blocks and %d skipped, want the walkthrough and the one build block", len(blocks), len(skipped))
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "rampart"), "./cmd/rampart")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	script := "set -e\n" + strings.Join(blocks, "\n") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", script)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir()}
	for _, name := range []string{"ENROLL_PORT", "ADMIN_PORT", "MQTT_PORT"} {
		env = append(env, name+"="+strconv.Itoa(freePort(t)))
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	// Whatever happened, nothing the document started outlives the test.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	logs := ""
	for _, l := range []string{"server.log", "spe.log", "agent.log"} {
		if b, rerr := os.ReadFile(filepath.Join(dir, "first-device", l)); rerr == nil {
			logs += "\n--- " + l + " (last 2 KB)\n" + string(b[max(0, len(b)-2048):])
		}
	}
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s%s", err, out.String(), logs)
	}
	// Its output is a pipe: progress comes as plain lines, with no
	// terminal control characters (internal/progress).
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("the walkthrough's output (not a terminal) holds control characters:\n%q", out.String())
	}
	for _, want := range []string{
		"fleet server started", "/first-device/data/ca.crt", // the start-up line names the file every client needs
		"active  acme", // onboarded
		",uptime_s,",   // telemetry stored
		"first-update completed",
		"verified 1/1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s%s", want, out.String(), logs)
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
