package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func threatInit(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	code, out, errb := run(t, append(append([]string{"threat", "init"}, args...), dir)...)
	if code != ExitOK {
		t.Fatalf("threat init: exit %d\n%s%s", code, out, errb)
	}
	return filepath.Join(dir, threatModelFile)
}

func TestThreatInitAndCheckEveryTemplate(t *testing.T) {
	code, out, _ := run(t, "threat", "init", "--list")
	if code != ExitOK {
		t.Fatal(code)
	}
	names := strings.Fields(out)
	if len(names) < 3 {
		t.Fatalf("templates: %q", out)
	}
	for _, name := range names {
		path := threatInit(t, "--template", name)
		code, out, errb := run(t, "threat", "check", path)
		if code != ExitOK || !strings.Contains(out, "0 error(s), 0 warning(s)") {
			t.Errorf("%s: check exit %d\n%s%s", name, code, out, errb)
		}
	}
}

func TestThreatInitRefusesToOverwrite(t *testing.T) {
	path := threatInit(t)
	dir := filepath.Dir(path)
	if code, _, errb := run(t, "threat", "init", dir); code != ExitError || !strings.Contains(errb, "already exists") {
		t.Fatalf("second init: exit %d %s", code, errb)
	}
	if code, _, _ := run(t, "threat", "init", "--force", dir); code != ExitOK {
		t.Fatalf("--force: exit %d", code)
	}
	if code, _, _ := run(t, "threat", "init", "--template", "toaster", dir); code != ExitUsage {
		t.Fatalf("unknown template: exit %d", code)
	}
}

func TestThreatCheckReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rampart_threat_model: 1\ntitle: x\nassets:\n  - id: D.A\n    colour: red\n"), 0o644)
	code, _, errb := run(t, "threat", "check", bad)
	if code != ExitFailure || !strings.Contains(errb, bad+":5:5: assets[0].colour: unknown field") {
		t.Fatalf("exit %d, stderr:\n%s", code, errb)
	}
	// A model that loads but has a dangling reference.
	path := threatInit(t)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "mitigated_by: [O.ANTI_ROLLBACK]", "mitigated_by: [O.NOPE]", 1)), 0o644)
	code, out, _ := run(t, "threat", "check", path)
	if code != ExitFailure || !strings.Contains(out, `error TM004: T.FW_ROLLBACK: mitigated_by names "O.NOPE", which is not defined`) {
		t.Fatalf("exit %d, out:\n%s", code, out)
	}
	code, out, _ = run(t, "threat", "check", "--json", path)
	var res threatCheckJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != ExitFailure || res.OK || len(res.Findings) == 0 || res.Findings[0].Pos.Line == 0 {
		t.Fatalf("--json: exit %d, err %v, %+v", code, err, res)
	}
	if code, _, _ := run(t, "threat", "check", filepath.Join(dir, "missing.yaml")); code != ExitError {
		t.Fatalf("missing file: exit %d", code)
	}
}

func TestThreatReportFormats(t *testing.T) {
	path := threatInit(t)
	dir := filepath.Dir(path)
	for _, f := range []string{"md", "html", "json", "sarif"} {
		out := filepath.Join(dir, "r."+f)
		if code, _, errb := run(t, "threat", "report", path, "--format", f, "-o", out); code != ExitOK {
			t.Fatalf("%s: exit %d %s", f, code, errb)
		}
		data, err := os.ReadFile(out)
		if err != nil || len(data) < 1000 {
			t.Fatalf("%s: %d bytes, %v", f, len(data), err)
		}
		if f == "json" || f == "sarif" {
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatalf("%s is not JSON: %v", f, err)
			}
		}
	}
	if code, _, _ := run(t, "threat", "report", path, "--format", "pdf"); code != ExitUsage {
		t.Fatalf("pdf: exit %d", code)
	}
	// A broken file still yields SARIF (with its problems) and exit 1.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rampart_threat_model: 1\ntitle: [\n"), 0o644)
	code, out, _ := run(t, "threat", "report", bad, "--format", "sarif")
	if code != ExitFailure || !strings.Contains(out, `"version": "2.1.0"`) || !strings.Contains(out, "TM000") {
		t.Fatalf("broken sarif: exit %d\n%s", code, out)
	}
}

func TestThreatPartition(t *testing.T) {
	path := threatInit(t)
	code, out, _ := run(t, "threat", "partition", path)
	if code != ExitOK || !strings.Contains(out, "Secure side (SPE)") || !strings.Contains(out, "C.BOOT") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, f := range []string{"mermaid", "svg", "json"} {
		if code, _, _ := run(t, "threat", "partition", "--format", f, path); code != ExitOK {
			t.Fatalf("%s: exit %d", f, code)
		}
	}
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "    boundary: TB.SPE\n    zone: secure\n", "    boundary: TB.SPE\n    zone: non-secure\n", 1)), 0o644)
	code, _, errb := run(t, "threat", "partition", path)
	if code != ExitFailure || !strings.Contains(errb, "C.BOOT is declared non-secure but advised secure") {
		t.Fatalf("conflict: exit %d %s", code, errb)
	}
}

func TestThreatSchemaAndCVSS(t *testing.T) {
	code, out, _ := run(t, "threat", "schema")
	var v map[string]any
	if code != ExitOK || json.Unmarshal([]byte(out), &v) != nil || v["$schema"] == nil {
		t.Fatalf("schema: exit %d", code)
	}
	code, out, _ = run(t, "threat", "cvss", "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:N")
	if code != ExitOK || !strings.HasPrefix(out, "base 9.0 (Critical)") {
		t.Fatalf("cvss: exit %d %q", code, out)
	}
	if code, _, _ := run(t, "threat", "cvss", "CVSS:3.1/AV:N"); code != ExitFailure {
		t.Fatalf("bad vector: exit %d", code)
	}
}
