package zone

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseProject: the YAML loader never panics, and whatever it accepts
// analyses (and, when clean, generates) without panicking.
func FuzzParseProject(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("device: mps2-an505\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProject(data, "fuzz.yaml")
		if err != nil {
			return
		}
		l := Analyze(p)
		if l.Err() == nil {
			if _, err := Generate(l); err != nil {
				t.Fatalf("clean layout failed to generate: %v", err)
			}
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	ents, _ := builtinFS.ReadDir("devices")
	for _, e := range ents {
		if b, err := builtinFS.ReadFile("devices/" + e.Name()); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := ParseDevice(data, "fuzz.yaml"); err == nil {
			Analyze(&Project{Device: d, UnassignedSecure: true})
		}
	})
}
