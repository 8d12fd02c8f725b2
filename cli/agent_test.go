package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentHelpAndUsage(t *testing.T) {
	code, out, _ := run(t, "agent", "--help")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--enroll-url") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, _, errs := run(t, "agent", "--mqtt", "127.0.0.1:1"); code != ExitUsage || !strings.Contains(errs, "--enroll-url") {
		t.Fatalf("missing flags: %d %q", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if code, _, errs := run(t, "agent", "--enroll-url", "https://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--ca", bad); code != ExitUsage || !strings.Contains(errs, "no PEM") {
		t.Fatalf("bad CA: %d %q", code, errs)
	}
}

func TestSimCommand(t *testing.T) {
	code, out, errs := run(t, "sim", "--devices", "5", "--update", "--tampered", "1", "--power-cuts", "1", "--quiet")
	if code != ExitOK {
		t.Fatalf("sim: %d %q %q", code, out, errs)
	}
	for _, want := range []string{"onboarded     5", "reporting     5", "updated       4", "tampered refused 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sim output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := run(t, "sim"); code != ExitUsage {
		t.Fatalf("sim without --devices: %d", code)
	}
}
