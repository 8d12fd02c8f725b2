package cmsis

import (
	"os"
	"path/filepath"
	"testing"

	"rampart/zone"
)

// FuzzImport: the XML importer never panics on any pair of documents, and
// what it accepts analyses without panicking.
func FuzzImport(f *testing.F) {
	for _, b := range examples {
		r, err1 := os.ReadFile(filepath.Join("testdata", b, b+".rzone"))
		a, err2 := os.ReadFile(filepath.Join("testdata", b, b+".azone"))
		if err1 == nil && err2 == nil {
			f.Add(r, a)
		}
	}
	f.Fuzz(func(t *testing.T, r, a []byte) {
		p, err := Import(r, "f.rzone", a, "f.azone")
		if err != nil {
			return
		}
		l := zone.Analyze(p)
		if l.Err() == nil {
			if _, err := zone.Generate(l); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Every prefix of a real .azone is rejected or imports without panicking.
func TestTruncatedAzone(t *testing.T) {
	r, _ := os.ReadFile("testdata/STM32L5/STM32L5.rzone")
	a, _ := os.ReadFile("testdata/STM32L5/STM32L5.azone")
	for i := 0; i < len(a); i += 7 {
		if p, err := Import(r, "r", a[:i], "a"); err == nil {
			zone.Analyze(p)
		}
	}
}
