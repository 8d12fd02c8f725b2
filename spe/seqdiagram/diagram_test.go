package seqdiagram_test

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/spe"
	"rampart/spe/seqdiagram"
)

var update = flag.Bool("update", false, "rewrite the golden diagrams")

func loadTrace(t *testing.T) []spe.TraceEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var page spe.TracePage
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}

// TestGoldenDiagrams renders a trace with a nested call (the sensor
// partition signing through the crypto partition), a refused call and a
// call that failed in its partition, in the three formats.
func TestGoldenDiagrams(t *testing.T) {
	d := seqdiagram.Build(loadTrace(t))
	for name, got := range map[string]string{"trace.svg": d.SVG(), "trace.mmd": d.Mermaid(), "trace.puml": d.PlantUML()} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the golden file (go test ./spe/seqdiagram -update, then review the diff):\n%s", name, got)
		}
	}
}

// TestLayout checks the diagram's structure: lifelines in order (the
// non-secure threads, the SPM, the partitions), the nested call inside its
// caller's call, refused calls that never reach a partition.
func TestLayout(t *testing.T) {
	d := seqdiagram.Build(loadTrace(t))
	var labels []string
	for _, l := range d.Lifelines {
		labels = append(labels, l.Label)
	}
	want := "NS client -1 conn 3|NS client -2 conn 4|SPM|RAMPART_SP_SENSOR|RAMPART_SP_CRYPTO"
	if strings.Join(labels, "|") != want {
		t.Fatalf("lifelines %q, want %q", strings.Join(labels, "|"), want)
	}
	arrows := make([]string, len(d.Messages))
	for i, m := range d.Messages {
		arrows[i] = d.Lifelines[m.From].Label + ">" + d.Lifelines[m.To].Label
	}
	got := strings.Join(arrows[2:8], " ")
	wantNested := "NS client -1 conn 3>SPM SPM>RAMPART_SP_SENSOR RAMPART_SP_SENSOR>SPM SPM>RAMPART_SP_CRYPTO RAMPART_SP_CRYPTO>SPM SPM>RAMPART_SP_SENSOR"
	if got != wantNested {
		t.Errorf("the sensor's call to crypto is not nested in the client's call:\n%s\nwant\n%s", got, wantNested)
	}
	if n := len(d.Messages); n != 2+4+4+4+2+2 {
		t.Errorf("%d arrows", n)
	}
}

// TestSVGWellFormed parses the SVG as XML, with hostile names in the trace.
func TestSVGWellFormed(t *testing.T) {
	ev := loadTrace(t)
	ev[1].Partition, ev[1].Service = `<script>alert(1)</script>&"`, "x\nparticipant evil"
	d := seqdiagram.Build(ev)
	dec := xml.NewDecoder(strings.NewReader(d.SVG()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "script" {
			t.Fatal("a partition name became markup")
		}
	}
	for _, text := range []string{d.Mermaid(), d.PlantUML()} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "participant evil") {
				t.Fatalf("a service name broke the line:\n%s", text)
			}
		}
	}
}
