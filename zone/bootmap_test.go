package zone_test

import (
	"os"
	"strings"
	"testing"

	"rampart/boot"
	"rampart/zone"
)

// The generated flash_map.yaml is exactly the format rampart boot reads: it
// parses with boot.ParseConfig and passes boot's own validation.
func TestFlashMapIsBootConfig(t *testing.T) {
	p, err := zone.LoadProject("testdata/an521-tfm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := generatedFlashMap(t, p)
	cfg, err := boot.ParseConfig(data, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(cfg.Images) != 2 || cfg.Images[1].Primary.Offset != 0x100000 || cfg.Bootloader.Size != 0x80000 || len(cfg.Storage) != 3 {
		t.Fatalf("unexpected config %+v", cfg)
	}
}

// A flash map with strategy swap-scratch generates a boot map that uses its
// scratch area; without a scratch area the analysis refuses it.
func TestFlashMapSwapScratch(t *testing.T) {
	text := an521WithStrategy(t, "swap-scratch")
	p, err := zone.ParseProject([]byte(text), "scratch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := generatedFlashMap(t, p)
	cfg, err := boot.ParseConfig(data, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if cfg.Strategy != boot.SwapScratch || cfg.Scratch == nil || cfg.Scratch.Offset != 0x280000 {
		t.Fatalf("strategy %q, scratch %+v\n%s", cfg.Strategy, cfg.Scratch, data)
	}

	noScratch := strings.Replace(text, "    - {name: scratch,      role: scratch,   offset: 0x280000, size: 0x80000, id: 5}\n", "", 1)
	p, err = zone.ParseProject([]byte(noScratch), "scratch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := zone.Analyze(p).Err(); err == nil || !strings.Contains(err.Error(), "swap-scratch needs one scratch area") {
		t.Fatalf("analysis of swap-scratch without a scratch area: %v", err)
	}
}

// A flash map with strategy swap-offset generates a boot map rampart boot
// accepts; a secondary slot smaller than the primary is refused (the update
// is written one sector into it).
func TestFlashMapSwapOffset(t *testing.T) {
	text := an521WithStrategy(t, "swap-offset")
	p, err := zone.ParseProject([]byte(text), "offset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := generatedFlashMap(t, p)
	cfg, err := boot.ParseConfig(data, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if cfg.Strategy != boot.SwapOffset {
		t.Fatalf("strategy %q\n%s", cfg.Strategy, data)
	}

	small := strings.Replace(text, "offset: 0x180000, size: 0x80000", "offset: 0x180000, size: 0x7F000", 1)
	p, err = zone.ParseProject([]byte(small), "offset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := zone.Analyze(p).Err(); err == nil || !strings.Contains(err.Error(), "with swap-offset the secondary slot") {
		t.Fatalf("analysis of a swap-offset secondary smaller than its primary: %v", err)
	}
}

// generatedFlashMap runs the analysis and generator on p and returns the
// flash_map.yaml it writes, failing the test when there is none.
func generatedFlashMap(t *testing.T, p *zone.Project) []byte {
	t.Helper()
	files, err := zone.Generate(zone.Analyze(p))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == "flash_map.yaml" {
			return f.Data
		}
	}
	t.Fatal("no flash_map.yaml generated")
	return nil
}

// an521WithStrategy is the AN521 project text with its upgrade strategy set.
func an521WithStrategy(t *testing.T, strategy string) string {
	t.Helper()
	src, err := os.ReadFile("testdata/an521-tfm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(src), "  trailer_size: 0x1000\n", "  trailer_size: 0x1000\n  strategy: "+strategy+"\n", 1)
}
