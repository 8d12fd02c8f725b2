package cmsis

import (
	"bytes"
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

// Every prefix of a real .azone and .rzone is rejected or imports without
// panicking; a truncated document (cut inside its root element) is rejected.
func TestTruncatedFiles(t *testing.T) {
	r, _ := os.ReadFile("testdata/SAML11/SAML11.rzone")
	a, _ := os.ReadFile("testdata/SAML11/SAML11.azone")
	step := 1
	if raceEnabled {
		step = 23
	}
	check := func(rr, aa []byte, cut int, of []byte) {
		p, err := Import(rr, "r", aa, "a")
		if err == nil {
			zone.Analyze(p)
			if cut < len(bytes.TrimSpace(of)) {
				t.Fatalf("a document cut at %d of %d bytes was accepted", cut, len(of))
			}
		}
	}
	for i := 0; i < len(a); i += step {
		check(r, a[:i], i, a)
	}
	for i := 0; i < len(r); i += step {
		check(r[:i], a, i, r)
	}
}
