package threat

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden report files in testdata/")

// TestReportGolden renders every format of every template and compares it
// with testdata/golden/<template>.<format>; run with -update to regenerate.
func TestReportGolden(t *testing.T) {
	for _, name := range Templates() {
		m, err := Parse(name+".yaml", mustTemplate(t, name))
		if err != nil {
			t.Fatal(err)
		}
		a := Analyze(m)
		for _, format := range Formats {
			var b bytes.Buffer
			if err := WriteReport(&b, a, format); err != nil {
				t.Fatalf("%s %s: %v", name, format, err)
			}
			path := filepath.Join("testdata", "golden", name+"."+format)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./threat -run TestReportGolden -update)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s: report differs from golden file (run with -update if the change is intended)", path)
			}
		}
	}
}

func TestSARIFShape(t *testing.T) {
	m, err := Parse("model.yaml", mutate(t, "    status: transferred\n", "    status: accepted\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteReport(&b, Analyze(m), FormatSARIF); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	// The side-channel threat is now accepted (it keeps its justification):
	// two accepted threats are reported as residual risks, and no errors.
	var accepted, errs int
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("ruleIndex %d does not point at %s", r.RuleIndex, r.RuleID)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI != "model.yaml" || r.Locations[0].PhysicalLocation.Region.StartLine < 1 {
			t.Errorf("bad location in %+v", r)
		}
		if r.RuleID == "TR100" {
			accepted++
		}
		if r.Level == "error" {
			errs++
		}
	}
	if accepted != 2 || errs != 0 {
		t.Errorf("accepted residual risks %d (want 2), errors %d (want 0)", accepted, errs)
	}

	// A model that does not load still gives SARIF with its problems.
	_, err = Parse("bad.yaml", []byte("rampart_threat_model: 1\ncolour: red\n"))
	le, ok := err.(*LoadError)
	if !ok {
		t.Fatalf("want *LoadError, got %v", err)
	}
	b.Reset()
	if err := WriteLoadErrorSARIF(&b, le); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"ruleId": "TM000"`) || !strings.Contains(b.String(), `"startLine": 2`) {
		t.Errorf("load-error SARIF lacks the problem:\n%s", b.String())
	}
}

func TestHTMLIsSelfContainedAndEscaped(t *testing.T) {
	m, err := Parse("m.yaml", mutate(t, "title: Smart water meter", `title: "Meter <script>alert(1)</script>"`))
	if err != nil {
		t.Fatal(err)
	}
	m.Components[0].Name = `Boot "<img src=x onerror=alert(1)>"`
	var b bytes.Buffer
	if err := WriteReport(&b, Analyze(m), FormatHTML); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, bad := range []string{"<script>", "<img", "src=\"http", "href=\"http", "<link"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML report contains %q", bad)
		}
	}
	for _, want := range []string{"<svg", "Risk matrix", "Data flows and trust boundaries", "PSA Certified Level 1 traceability", "Partition advice"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	m, _ := Parse("m.yaml", mustTemplate(t, DefaultTemplate))
	if err := WriteReport(&bytes.Buffer{}, Analyze(m), "pdf"); err == nil {
		t.Fatal("pdf accepted")
	}
}

// TestBrokenModelsStillRender: a model that loads but fails its check
// (cycles, self-references, dangling IDs) renders in every format, and the
// report shows the check failing.
func TestBrokenModelsStillRender(t *testing.T) {
	src := "rampart_threat_model: 1\ntitle: broken\ntrust_boundaries:\n  - {id: A, name: a, parent: B}\n  - {id: B, name: b, parent: A}\n  - {id: S, name: s, parent: S}\n" +
		"components:\n  - {id: C, name: c, kind: process, boundary: A}\n  - {id: D, name: d, kind: datastore, boundary: S}\n  - {id: E, name: e, kind: external, boundary: NOPE}\n" +
		"data_flows:\n  - {id: F, from: C, to: D}\n  - {id: G, from: D, to: C}\n  - {id: H, from: E, to: X}\n  - {id: I, from: C, to: C}\n" +
		"threats:\n  - {id: T, title: t, stride: [spoofing], agents: [X], assets: [Y], cvss: \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}\n"
	m, err := Parse("broken.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := Analyze(m)
	if a.Summary.Errors == 0 {
		t.Fatal("broken model checks clean")
	}
	for _, f := range Formats {
		var b bytes.Buffer
		if err := WriteReport(&b, a, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == FormatHTML && !strings.Contains(b.String(), "FAILS") {
			t.Errorf("html report does not show the failing check")
		}
	}
}
