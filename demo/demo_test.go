package demo

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemoRunsClean(t *testing.T) {
	var out bytes.Buffer
	sum := Run(Options{Dir: t.TempDir(), Out: &out})
	if !sum.OK() {
		t.Fatalf("demo failed:\n%s", out.String())
	}
	if sum.Passed != len(Steps()) {
		t.Fatalf("passed %d of %d steps", sum.Passed, len(Steps()))
	}
	if !strings.Contains(out.String(), "refused") {
		t.Fatalf("narration does not show the tampered image refused:\n%s", out.String())
	}
}

// TestStepFailsWithoutItsInput checks that a step whose input is missing
// fails (rather than passing vacuously).
func TestStepFailsWithoutItsInput(t *testing.T) {
	st := newState(Options{Dir: t.TempDir()})
	if _, err := stepTamperedImage(st); err == nil {
		t.Fatal("tamper step passed with no image")
	}
	if _, err := st.verifyImage("v1"); err == nil {
		t.Fatal("verify step passed with no image")
	}
}
