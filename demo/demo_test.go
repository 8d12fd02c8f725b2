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
	// The certify summary is words, not a Go map.
	if strings.Contains(out.String(), "map[") || !strings.Contains(out.String(), " met, ") {
		t.Fatalf("narration prints a Go value or lacks the certify summary:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "(files in ") {
		t.Fatalf("a kept directory is not named in the summary:\n%s", out.String())
	}
}

// TestDemoTemporaryDirSummary: when the directory is removed at the end,
// the summary says so instead of naming it.
func TestDemoTemporaryDirSummary(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	Run(Options{Dir: dir, Out: &out, Temporary: true})
	last := out.String()[strings.LastIndex(out.String(), "Summary:"):]
	if strings.Contains(last, dir) || !strings.Contains(last, "--keep") {
		t.Fatalf("summary of a temporary run: %q", last)
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

// TestCertifyStepNeedsEvidence checks that the certify step answers from what
// the demo showed: with no earlier step passed (no provisioning, attestation
// or mTLS seen), Level 1 requirements are not met and the step fails.
func TestCertifyStepNeedsEvidence(t *testing.T) {
	st := newState(Options{Dir: t.TempDir()})
	if _, err := stepKeygen(st); err != nil {
		t.Fatal(err)
	}
	_, err := stepCertify(st)
	if err == nil {
		t.Fatal("certify step passed although no step showed provisioning, attestation or mTLS")
	}
	for _, want := range []string{"R4.1", "not met"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}
