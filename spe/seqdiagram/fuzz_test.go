package seqdiagram_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/spe"
	"rampart/spe/seqdiagram"
)

// FuzzRender draws hostile traces (a trace file is the render command's
// input): no panic, a well-formed SVG, and one Mermaid statement a line.
func FuzzRender(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "trace.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"events":[{"kind":"call","caller":"x","partition":"x","served":true,"total_ns":-5}]}`))
	f.Add([]byte(`{"events":[{"kind":"call","partition":"a\u0001\ufffe\ud800","served":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var page spe.TracePage
		if json.Unmarshal(data, &page) != nil || len(page.Events) > 200 {
			return
		}
		d := seqdiagram.Build(page.Events)
		dec := xml.NewDecoder(strings.NewReader(d.SVG()))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("SVG not well-formed: %v", err)
			}
		}
		lines := strings.Split(strings.TrimSuffix(d.Mermaid(), "\n"), "\n")
		if want := 1 + len(d.Lifelines) + len(d.Messages); len(lines) != want {
			t.Fatalf("%d Mermaid lines, want %d", len(lines), want)
		}
	})
}
