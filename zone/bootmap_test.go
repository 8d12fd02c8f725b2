package zone_test

import (
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
	files, err := zone.Generate(zone.Analyze(p))
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, f := range files {
		if f.Name == "flash_map.yaml" {
			data = f.Data
		}
	}
	if data == nil {
		t.Fatal("no flash_map.yaml generated")
	}
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
