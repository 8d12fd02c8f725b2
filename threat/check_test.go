package threat

import (
	"fmt"
	"strings"
	"testing"
)

// mutate replaces the first occurrence of from in the default template.
func mutate(t *testing.T, from, to string) []byte {
	t.Helper()
	base := string(mustTemplate(t, DefaultTemplate))
	if !strings.Contains(base, from) {
		t.Fatalf("template has no %q", from)
	}
	return []byte(strings.Replace(base, from, to, 1))
}

func lineOf(t *testing.T, data []byte, needle string) int {
	t.Helper()
	i := strings.Index(string(data), needle)
	if i < 0 {
		t.Fatalf("no %q", needle)
	}
	return strings.Count(string(data[:i]), "\n") + 1
}

func TestCheckFindsProblemsAtTheirLine(t *testing.T) {
	cases := []struct {
		name, from, to, rule, lineOf, msg string
	}{
		{"dangling asset", "assets: [D.FIRMWARE]\n    cvss: CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C", "assets: [D.FIRMWAER]\n    cvss: CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C", "TM004", "D.FIRMWAER", `names "D.FIRMWAER", which is not defined`},
		{"wrong kind", "mitigated_by: [O.ANTI_ROLLBACK]", "mitigated_by: [D.FIRMWARE]", "TM004", "mitigated_by: [D.FIRMWARE]", "a asset, where a objective is expected"},
		{"duplicate id", "id: O.DUMMY", "", "", "", ""},
		{"boundary cycle", "    name: Meter enclosure\n", "    name: Meter enclosure\n    parent: TB.SPE\n", "TM005", "parent: TB.DEVICE", "cycle TB.DEVICE -> TB.SPE -> TB.DEVICE"},
		{"requirement cycle", "    realises: [O.FW_AUTH]\n    psa: [R1.1]\n", "    realises: [O.FW_AUTH]\n    refines: [SR.UPDATE_VERIFY]\n    psa: [R1.1]\n", "TM005", "refines: [SR.SECURE_BOOT]", "cycle SR.SECURE_BOOT -> SR.UPDATE_VERIFY -> SR.SECURE_BOOT"},
		{"unthreatened asset", "    assets: [D.AUDIT_LOG]\n", "    assets: [D.CONFIG]\n", "TM010", "id: D.AUDIT_LOG", "asset is affected by no threat"},
		{"controlled without objective", "    status: controlled\n    mitigated_by: [O.ANTI_ROLLBACK]\n", "    status: controlled\n", "TM011", "id: T.FW_ROLLBACK", "must name the objectives"},
		{"accepted without justification", "    status: accepted\n    justification: >-", "    status: accepted\n    description: >-", "TM011", "status: accepted", "needs a justification"},
		{"no status", "    status: transferred\n", "", "TM011", "id: T.SIDE_CHANNEL", "status is required"},
		{"objective not realised", "    realises: [O.AUDIT]\n", "    realises: [O.LIFECYCLE]\n", "TM012", "id: O.AUDIT", "realised by no requirement"},
		{"requirement without evidence", "    evidence:\n      - {kind: mechanism, ref: rampart spe fwu}\n", "", "TM013", "id: SR.UPDATE_VERIFY", "names no evidence"},
		{"policy not upheld", ", upholds: [P.PRIVACY]}\n  - {id: O.ISOLATION", "}\n  - {id: O.ISOLATION", "", "", ""},
		{"bad psa id", "psa: [R7.1]", "psa: [R8.1]", "TM002", "psa: [R8.1]", "not a PSA Certified Level 1 requirement"},
		{"bad stride", "stride: [repudiation]", "stride: [repudation]", "TM002", "stride: [repudation]", `"repudation" is not one of`},
		{"bad need", "needs: {confidentiality: none, integrity: high", "needs: {confidentiality: nil, integrity: high", "TM002", "confidentiality: nil", "needs.confidentiality"},
		{"bad id", "id: TA.THIEF\n", "id: 9THIEF\n", "TM002", "id: 9THIEF", "must start with a letter"},
		{"missing cvss", "    cvss: CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\n", "", "TM001", "id: T.EAVESDROP", "cvss is required"},
		{"unused agent", "    agents: [TA.MALWARE]\n    surfaces: [AS.SPE_API]\n    assets: [D.AUDIT_LOG]", "    agents: [TA.REMOTE]\n    surfaces: [AS.SPE_API]\n    assets: [D.AUDIT_LOG]", "", "", ""},
	}
	for _, c := range cases {
		if c.rule == "" {
			continue // covered separately below
		}
		data := mutate(t, c.from, c.to)
		m, err := Parse("m.yaml", data)
		if err != nil {
			t.Errorf("%s: load: %v", c.name, err)
			continue
		}
		fs := Check(m)
		want := lineOf(t, data, c.lineOf)
		found := false
		for _, f := range fs {
			if f.Rule == c.rule && f.Pos.Line == want && strings.Contains(f.Msg, c.msg) && f.Severity == SevError {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want %s at line %d containing %q; got:\n%s", c.name, c.rule, want, c.msg, dump(fs))
		}
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintln(&b, f.String())
	}
	return b.String()
}

func TestCheckDuplicatesAndWarnings(t *testing.T) {
	data := mutate(t, "  - {id: O.AUDIT,", "  - {id: O.LIFECYCLE, title: twice}\n  - {id: O.AUDIT,")
	m, err := Parse("m.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(m)
	if !strings.Contains(dump(fs), `TM003: id "O.LIFECYCLE" is already used by a objective`) {
		t.Errorf("duplicate not reported:\n%s", dump(fs))
	}

	// An agent used by no threat is a warning: the model still passes.
	data = mutate(t, "    agents: [TA.MALWARE]\n    surfaces: [AS.SPE_API]\n    assets: [D.AUDIT_LOG]", "    agents: [TA.REMOTE]\n    surfaces: [AS.SPE_API]\n    assets: [D.AUDIT_LOG]")
	data = []byte(strings.Replace(string(data), "    agents: [TA.MALWARE]\n    surfaces: [AS.SPE_API]\n    assets: [D.CREDENTIALS", "    agents: [TA.REMOTE]\n    surfaces: [AS.SPE_API]\n    assets: [D.CREDENTIALS", 1))
	m, err = Parse("m.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	fs = Check(m)
	if Errors(fs) != 0 || !strings.Contains(dump(fs), "warning TM021: TA.MALWARE") {
		t.Errorf("want only a TM021 warning:\n%s", dump(fs))
	}
}

func TestCheckEmptyModel(t *testing.T) {
	m, err := Parse("m.yaml", []byte("rampart_threat_model: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := dump(Check(m))
	for _, want := range []string{"title is required", "toe (the target of evaluation) is required", "assets: at least one", "threats: at least one", "requirements: at least one"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
}
