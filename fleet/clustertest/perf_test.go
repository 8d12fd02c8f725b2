package clustertest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// perfDir, when set, records each phase of the benchmark on every node
// with perf (call graphs), one file per configuration, phase and node, so
// that where a cluster node's extra CPU goes can be read against the
// baseline's profile of the same run (perf report -i FILE --children).
var perfDir = flag.String("cluster.perf", "", "benchmark: record a perf profile of each node during the enrollment and telemetry phases into this directory")

// perfPhase starts perf on every running node and returns the function
// that stops it and waits for the files to be written. Without
// -cluster.perf it does nothing.
func (c *testCluster) perfPhase(t *testing.T, config, phase string) func() {
	if *perfDir == "" {
		return func() {}
	}
	var cmds []*exec.Cmd
	for _, nd := range c.nodes {
		if !nd.running() {
			continue
		}
		name := strings.NewReplacer(" ", "_", ",", "").Replace(fmt.Sprintf("%s-%s-%s.data", config, phase, nd.name))
		cmd := exec.Command("perf", "record", "-q", "-F", "997", "-g", "-p", strconv.Itoa(nd.pid()), "-o", filepath.Join(*perfDir, name))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Logf("perf: %v", err)
			continue
		}
		cmds = append(cmds, cmd)
	}
	return func() {
		for _, cmd := range cmds {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		}
	}
}
