package threat

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// BenchmarkYAMLNode is the baseline: yaml.v3 parsing the default template
// into a node tree, which Parse does first.
func BenchmarkYAMLNode(b *testing.B) {
	data := mustTemplate(b, DefaultTemplate)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse loads the default template (node parse, typed decode with
// positions, CVSS scores).
func BenchmarkParse(b *testing.B) {
	data := mustTemplate(b, DefaultTemplate)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("m.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck checks the loaded default template.
func BenchmarkCheck(b *testing.B) {
	m, err := Parse("m.yaml", mustTemplate(b, DefaultTemplate))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if fs := Check(m); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
}

func BenchmarkCVSS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCVSS("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H/CR:H/IR:H/AR:H"); err != nil {
			b.Fatal(err)
		}
	}
}
