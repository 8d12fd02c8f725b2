package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/spe"
)

// TestSpeTraceRender traces the calls of one command (`rampart spe keys`)
// against an SPE at level 3, then draws them.
func TestSpeTraceRender(t *testing.T) {
	s := startSpeServeWith(t, "spe-trace", map[string]any{"isolation": 3, "trace_clients": []int{-1}})
	dir := t.TempDir()
	tracePath := filepath.Join(dir, "trace.json")
	t.Setenv("RAMPART_CLI_TEST_MAIN", "1") // the traced command is this binary as rampart
	code, out, errs := run(t, "spe", "trace", "--socket", s.sock, "-o", tracePath, "--", os.Args[0], "spe", "keys", "--socket", s.sock)
	if code != ExitOK || !strings.Contains(errs, "events (0 dropped) written") {
		t.Fatalf("spe trace: %d %q %q", code, out, errs)
	}
	b, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	var page spe.TracePage
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	served := false
	for _, e := range page.Events {
		if e.Partition == "RAMPART_SP_CRYPTO" && e.Kind == "call" && e.Served && e.Status == 0 && e.InService > 0 {
			served = true
		}
		if e.SID == spe.TraceSID {
			t.Errorf("the trace records its own calls: %+v", e)
		}
	}
	if !served {
		t.Fatalf("no call served by the crypto partition in the trace: %s", b)
	}
	for format, want := range map[string]string{"mermaid": "SPM->>", "plantuml": "@startuml", "svg": "<svg"} {
		code, out, errs := run(t, "spe", "trace", "render", tracePath, "--format", format)
		if code != ExitOK || !strings.Contains(out, want) || !strings.Contains(out, "RAMPART_SP_CRYPTO") {
			t.Errorf("render %s: %d %q %q", format, code, out, errs)
		}
	}
	if code, _, _ := run(t, "spe", "trace", "render", tracePath, "--format", "dot"); code != ExitUsage {
		t.Errorf("unknown format: exit %d", code)
	}
	s.stop(t)
}

// TestSpeTraceRefused: a client not in trace_clients cannot trace.
func TestSpeTraceRefused(t *testing.T) {
	s := startSpeServe(t, "spe-notrace")
	code, _, errs := run(t, "spe", "trace", "--socket", s.sock, "--duration", "1ms")
	if code == ExitOK || !strings.Contains(errs, "CONNECTION_REFUSED") {
		t.Fatalf("trace without trace_clients: %d %q", code, errs)
	}
	s.stop(t)
}
