package zone

import (
	"path/filepath"
	"reflect"
	"testing"
)

// normalize clears what legitimately differs after a round trip: positions
// and the file names errors are reported against.
func normalize(p *Project) {
	p.File, p.Notes = "", nil
	d := p.Device
	if d.File != "" && d.File[:min(8, len(d.File))] != "builtin:" {
		d.File = ""
	}
	d.Line = 0
	for i := range d.SAUInit {
		d.SAUInit[i].Line = 0
	}
	for _, m := range d.Memories {
		m.Line = 0
	}
	for _, per := range d.Peripherals {
		per.Line = 0
	}
	for _, pt := range p.Partitions {
		pt.Line, pt.Memory = 0, nil
	}
	for _, z := range p.Zones {
		z.Line, z.PartitionLines, z.PeripheralLines, z.InterruptLines = 0, nil, nil, nil
	}
	if p.FlashMap != nil {
		p.FlashMap.Line = 0
		for _, a := range p.FlashMap.Areas {
			a.Line = 0
		}
	}
}

func roundTrip(t *testing.T, p *Project) {
	t.Helper()
	y, err := MarshalProject(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseProject(y, "rt.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	y2, err := MarshalProject(q)
	if err != nil {
		t.Fatal(err)
	}
	if string(y) != string(y2) {
		t.Fatalf("marshal is not stable:\n%s\n---\n%s", y, y2)
	}
	normalize(p)
	normalize(q)
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip changed the project:\n%s", y)
	}
}

func TestProjectRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 4 {
		t.Fatalf("%d test projects", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := LoadProject(f)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, p)
		})
	}
}

// An inline device (as the CMSIS importer produces) round-trips too.
func TestInlineDeviceRoundTrip(t *testing.T) {
	for _, name := range []string{"mps2-an505", "stm32l552ze", "lpc55s69", "nrf5340-app"} {
		d, err := BuiltinDevice(name)
		if err != nil {
			t.Fatal(err)
		}
		d.File = "custom.yaml"
		roundTrip(t, &Project{Name: "x", Device: d, UnassignedSecure: true})
	}
}
