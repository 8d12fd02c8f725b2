package cli

import (
	"os"
	"os/exec"
	"testing"
)

// TestMain lets the test binary be `rampart` for the partition processes
// that `spe serve` starts at isolation levels 2 and 3.
func TestMain(m *testing.M) {
	if os.Getenv("RAMPART_CLI_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], StdEnv()))
	}
	speSelfCommand = func(group string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "spe", "partition", "--group", group, "--fd", "3")
		cmd.Env = append(os.Environ(), "RAMPART_CLI_TEST_MAIN=1")
		cmd.Stderr = os.Stderr
		return cmd
	}
	os.Exit(m.Run())
}
