package zone

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// BenchmarkParseProject measures the loader (strict decode, node tree for
// positions, conversion); BenchmarkRawYAML is the baseline: a plain
// yaml.Unmarshal of the same file into the schema structs.
func BenchmarkParseProject(b *testing.B) {
	data := mustRead(b, "testdata/an521-tfm.yaml")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseProject(data, "b.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawYAML(b *testing.B) {
	data := mustRead(b, "testdata/an521-tfm.yaml")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var y yProject
		if err := yaml.Unmarshal(data, &y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyzeGenerate(b *testing.B) {
	p, err := ParseProject(mustRead(b, "testdata/an521-tfm.yaml"), "b.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(Analyze(p)); err != nil {
			b.Fatal(err)
		}
	}
}
