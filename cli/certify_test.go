package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertifyCompleteProject(t *testing.T) {
	project := filepath.Join("..", "certify", "testdata", "full", "rampart.yaml")
	code, out, errb := run(t, "certify", "--project", project, "--strict")
	if code != ExitOK || !strings.Contains(out, "17 met, 0 partly, 0 not met, 2 not applicable") {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	code, out, _ = run(t, "certify", "--project", project, "--format", "json")
	var v struct {
		Results []struct{ ID, Status string } `json:"results"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &v) != nil || len(v.Results) != 19 {
		t.Fatalf("json: exit %d, %d results", code, len(v.Results))
	}
	html := filepath.Join(t.TempDir(), "c.html")
	if code, _, _ := run(t, "certify", "--project", project, "--format", "html", "-o", html); code != ExitOK {
		t.Fatalf("html: exit %d", code)
	}
	if data, _ := os.ReadFile(html); !strings.Contains(string(data), "<table>") {
		t.Fatal("html report has no table")
	}
}

func TestCertifyExampleProjectIsNotMet(t *testing.T) {
	code, out, errb := run(t, "certify", "--project", filepath.Join("..", "examples", "project", "rampart.yaml"))
	if code != ExitFailure || !strings.Contains(out, "not found") || !strings.Contains(errb, "not met") {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
}

func TestCertifyBadInvocations(t *testing.T) {
	if code, _, _ := run(t, "certify", "--project", filepath.Join(t.TempDir(), "rampart.yaml")); code != ExitError {
		t.Errorf("missing project: exit %d", code)
	}
	if code, _, _ := run(t, "certify", "--format", "pdf"); code != ExitUsage {
		t.Errorf("pdf: exit %d", code)
	}
	bad := filepath.Join(t.TempDir(), "rampart.yaml")
	os.WriteFile(bad, []byte("rampart_project: 1\ncolour: red\n"), 0o644)
	if code, _, errb := run(t, "certify", "--project", bad); code != ExitFailure || !strings.Contains(errb, bad+":2:1: colour: unknown field") {
		t.Errorf("bad project: exit %d %s", code, errb)
	}
}
