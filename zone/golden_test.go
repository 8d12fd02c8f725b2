package zone

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The generators' output for the examples is pinned by golden files
// (regenerate with go test -run Golden -update and review the diff).
func TestGoldenOutputs(t *testing.T) {
	for _, name := range []string{"an521-tfm", "nrf5340-app", "saml11-app"} {
		t.Run(name, func(t *testing.T) {
			p, err := LoadProject("testdata/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(Analyze(p))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Generate(Analyze(p))
			dir := filepath.Join("testdata", "golden", name)
			if *update {
				os.RemoveAll(dir)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for i, f := range files {
				if !bytes.Equal(f.Data, again[i].Data) {
					t.Errorf("%s: output differs between two runs", f.Name)
				}
				path := filepath.Join(dir, f.Name)
				if *update {
					if err := os.WriteFile(path, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create)", err)
				}
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s differs from %s (run with -update after reviewing)", f.Name, path)
				}
			}
		})
	}
}

// The SVG is well-formed XML and escapes names; the Markdown has one row per partition.
func TestSVGAndMarkdown(t *testing.T) {
	p, err := LoadProject("testdata/an521-tfm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Partitions[0].Name = `<script>&"x"`
	p.Zones[0].Partitions[0] = p.Partitions[0].Name
	l := Analyze(p)
	svg := generated(t, l, "memory_map.svg")
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
	}
	if strings.Contains(svg, "<script>") {
		t.Fatal("SVG does not escape partition names")
	}
	md := generated(t, l, "memory_map.md")
	if strings.Count(md, "\n| ") < len(p.Partitions)+1 || strings.Contains(md, "<script>") {
		t.Fatalf("markdown table:\n%s", md)
	}
}
