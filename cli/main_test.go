package cli

import (
	"os"
	"os/exec"
	"testing"

	"rampart/hsm/hsmtest"
)

// TestMain lets the test binary be `rampart` for the partition processes
// that `spe serve` starts at isolation levels 2 and 3, and removes the
// SoftHSM2 tokens the PKCS#11 tests made.
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
	code := m.Run()
	hsmtest.Cleanup() // the SoftHSM2 tokens of hsm_test.go
	os.Exit(code)
}
