package threat

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var long = flag.Bool("long", false, "run exhaustive sweeps (every prefix of every template)")

func mustTemplate(t testing.TB, name string) []byte {
	t.Helper()
	data, err := Template(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	for _, name := range Templates() {
		m1, err := Parse(name, mustTemplate(t, name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := Marshal(m1)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(name, out)
		if err != nil {
			t.Fatalf("%s: re-parse: %v\n%s", name, err, out)
		}
		j1, _ := json.Marshal(m1)
		j2, _ := json.Marshal(m2)
		if string(j1) != string(j2) {
			t.Errorf("%s: model changed through Marshal/Parse", name)
		}
	}
}

// TestErrorsNameFileAndLine feeds hostile or mistaken models and checks each
// error names the file, the line and column, and what was wrong.
func TestErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"malformed", "rampart_threat_model: 1\ntitle: [unclosed\n", "m.yaml:2: malformed YAML"},
		{"unclosed mapping", "rampart_threat_model: 1\n\n\nb: {x: 1\nc: 2\n", "m.yaml:4: malformed YAML"},
		{"bad indent", "rampart_threat_model: 1\nb:\n  - x\n - y\n", "m.yaml:3: malformed YAML"},
		{"tab indent", "rampart_threat_model: 1\ntitle:\n\t- x\n", "m.yaml:3: malformed YAML"},
		{"not a mapping", "- a\n- b\n", "m.yaml:1:1: a model is a mapping of fields, got a list"},
		{"scalar document", "hello\n", "m.yaml:1:1: a model is a mapping"},
		{"unknown top field", "rampart_threat_model: 1\ntitel: x\n", `m.yaml:2:1: titel: unknown field "titel"`},
		{"unknown nested field", "rampart_threat_model: 1\nassets:\n  - id: D.X\n    nedds: {}\n", `m.yaml:4:5: assets[0].nedds: unknown field`},
		{"wrong type string", "rampart_threat_model: 1\ntitle: {a: b}\n", "m.yaml:2:8: title: want a string, got a mapping"},
		{"wrong type list", "rampart_threat_model: 1\nassets: D.X\n", "m.yaml:2:9: assets: want a list"},
		{"number for string", "rampart_threat_model: 1\nversion: 1.0\n", "m.yaml:2:10: version: want a string, got the number 1.0"},
		{"wrong version type", "rampart_threat_model: one\n", "m.yaml:1:23: rampart_threat_model: want an integer"},
		{"unsupported version", "rampart_threat_model: 2\n", "m.yaml:1:23: rampart_threat_model: format version 2 is not supported"},
		{"missing version", "title: x\n", "format version 0 is not supported"},
		{"duplicate key", "rampart_threat_model: 1\ntitle: a\ntitle: b\n", "m.yaml:3:1: title: "},
		{"alias", "rampart_threat_model: 1\ntitle: &t x\nversion: *t\n", "anchors and aliases are not allowed"},
		{"two documents", "rampart_threat_model: 1\n---\ntitle: x\n", "more than one YAML document"},
		{"empty", "", "m.yaml:1: empty file"},
		{"ref not string", "rampart_threat_model: 1\nthreats:\n  - id: T.X\n    assets: [{a: 1}]\n", "m.yaml:4:14: threats[0].assets[0]: want an ID"},
		{"bad cvss", "rampart_threat_model: 1\nthreats:\n  - id: T.X\n    cvss: CVSS:3.1/AV:N\n", "m.yaml:4:11: threats[0].cvss: invalid CVSS 3.1 vector: missing base metric(s) AC, PR, UI, S, C, I, A"},
		{"cvss 3.0", "rampart_threat_model: 1\nthreats:\n  - id: T.X\n    cvss: CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n", `version "CVSS:3.0" is not supported`},
		{"huge int", "rampart_threat_model: 99999999999999999999\n", "m.yaml:1:23: rampart_threat_model: "},
	}
	for _, c := range cases {
		_, err := Parse("m.yaml", []byte(c.src))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", c.name, err)
		}
		var le *LoadError
		if !errors.As(err, &le) {
			t.Errorf("%s: not a *LoadError", c.name)
			continue
		}
		var all []string
		for _, p := range le.Problems {
			all = append(all, p.String())
		}
		if s := strings.Join(all, "\n"); !strings.Contains(s, c.want) {
			t.Errorf("%s: got\n%s\nwant it to contain %q", c.name, s, c.want)
		}
	}
}

func TestOversizedRejected(t *testing.T) {
	big := make([]byte, MaxModelSize+1)
	for i := range big {
		big[i] = '#'
	}
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized model: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load oversized: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("Load missing: %v", err)
	}
}

// TestTruncations: no prefix of a template may load AND check clean, except
// those that end at the end of the file, with or without its newline.
func TestTruncations(t *testing.T) {
	data := mustTemplate(t, DefaultTemplate)
	full := strings.TrimRight(string(data), "\n")
	step := 13 // every prefix with -long
	if *long {
		step = 1
	}
	for i := 0; i < len(full); i += step {
		m, err := Parse("t.yaml", data[:i])
		if err != nil {
			continue
		}
		if Errors(Check(m)) == 0 {
			t.Fatalf("prefix of %d bytes (of %d) loads and checks clean", i, len(full))
		}
	}
}
