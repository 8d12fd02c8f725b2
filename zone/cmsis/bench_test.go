package cmsis

import (
	"encoding/xml"
	"os"
	"testing"
)

// BenchmarkImport measures the importer on the STM32L5 pair;
// BenchmarkRawXML is the baseline: xml.Unmarshal of the same two files.
func BenchmarkImport(b *testing.B) {
	r, _ := os.ReadFile("testdata/STM32L5/STM32L5.rzone")
	a, _ := os.ReadFile("testdata/STM32L5/STM32L5.azone")
	b.ReportAllocs()
	b.SetBytes(int64(len(r) + len(a)))
	for b.Loop() {
		if _, err := Import(r, "r", a, "a"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawXML(b *testing.B) {
	r, _ := os.ReadFile("testdata/STM32L5/STM32L5.rzone")
	a, _ := os.ReadFile("testdata/STM32L5/STM32L5.azone")
	b.ReportAllocs()
	b.SetBytes(int64(len(r) + len(a)))
	for b.Loop() {
		var x xRzone
		var y xAzone
		if err := xml.Unmarshal(r, &x); err != nil {
			b.Fatal(err)
		}
		if err := xml.Unmarshal(a, &y); err != nil {
			b.Fatal(err)
		}
	}
}
