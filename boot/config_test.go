package boot

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfigFiles(t *testing.T) {
	c, err := LoadConfig("testdata/two-images.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images) != 2 || c.Images[1].Secondary.Offset != 0x3d000 || c.Strategy != SwapMove || !c.DowngradePrevention || c.Flash.ErasedValue != 0xff {
		t.Fatalf("%+v", c)
	}
	l, _ := c.layout()
	if got := l.images[0].maxImageSize(l); got <= 0x8000 {
		t.Fatalf("max image size %#x", got)
	}
	j, err := LoadConfig("testdata/one-image.json")
	if err != nil {
		t.Fatal(err)
	}
	if j.Images[0].Primary.Offset != 0x10000 || j.Flash.WriteAlign != 32 || j.EffectiveMaxAlign() != 32 {
		t.Fatalf("%+v", j)
	}
	s, err := LoadConfig("testdata/scratch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Strategy != SwapScratch || s.Scratch == nil || s.Scratch.Offset != 0x2c000 {
		t.Fatalf("%+v", s)
	}
	r, err := LoadConfig("testdata/ram-load.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy != RAMLoad || r.RAM == nil || r.RAM.Offset != 0x20000000 {
		t.Fatalf("%+v", r)
	}
	if _, err := LoadConfig("testdata/missing.yaml"); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestConfigRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/two-images.yaml", "testdata/one-image.json"} {
		c, err := LoadConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseConfig(b, true)
		if err != nil {
			t.Fatalf("%s: re-parse: %v", f, err)
		}
		if !reflect.DeepEqual(c, d) {
			t.Fatalf("%s: round trip changed it:\n%+v\n%+v", f, c, d)
		}
	}
}

func TestConfigPrefixesRejected(t *testing.T) {
	for _, f := range []string{"testdata/two-images.yaml", "testdata/one-image.json"} {
		b, _ := os.ReadFile(f)
		isJSON := strings.HasSuffix(f, ".json")
		whole := strings.TrimSpace(string(b))
		full, err := ParseConfig(b, isJSON)
		if err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for n := range len(whole) {
			c, err := ParseConfig([]byte(whole[:n]), isJSON)
			if err != nil {
				continue
			}
			// YAML has no end marker: a prefix ending between two list
			// entries is a smaller valid map. It must never be mistaken
			// for the whole one, and JSON prefixes are never valid.
			accepted++
			if isJSON || reflect.DeepEqual(c, full) {
				t.Errorf("%s: %d-byte prefix accepted: ...%q", f, n, whole[max(0, n-30):n])
			}
		}
		t.Logf("%s: %d of %d prefixes are smaller valid maps", f, accepted, len(whole))
	}
}

func TestConfigRejects(t *testing.T) {
	base, _ := os.ReadFile("testdata/two-images.yaml")
	cases := []struct{ from, to, want string }{
		{"strategy: swap-move", "strategy: swap-scratch", "strategy"},
		{"write_align: 8", "write_align: 3", "write_align"},
		{"write_align: 8", "write_align: 64", "write_align"},
		{"erased_value: 0xff", "erased_value: 0x7f", "erased_value"},
		{"max_align: 8", "max_align: 4", "max_align"},
		{"secondary: {offset: 0x1a000, size: 0x11000}", "secondary: {offset: 0x1a000, size: 0x11800}", "sector boundary"},
		{"secondary: {offset: 0x1a000, size: 0x11000}", "secondary: {offset: 0x19000, size: 0x11000}", "overlaps"},
		{"{name: its, offset: 0x4e000, size: 0x4000}", "{name: its, offset: 0x4e000, size: 0x8000}", "beyond the device"},
		{"- id: 1", "- id: 3", "images[1].id"},
		{"primary:   {offset: 0x8000,  size: 0x12000}", "primary:   {offset: 0x8000,  size: 0x10000}", "one more"},
		{"{size: 0x1000, count: 70}", "{size: 0x1000, count: 70, colour: red}", "colour"},
		{"{name: its,", "{name: '',", "name is empty"},
		{"size: 0x8000}", "size: banana}", "banana"},
	}
	for _, c := range cases {
		s := strings.Replace(string(base), c.from, c.to, 1)
		if s == string(base) {
			t.Fatalf("case %q does not apply", c.from)
		}
		_, err := ParseConfig([]byte(s), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: err %v, want mention of %q", c.from, c.to, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v does not wrap ErrConfig", c.to, err)
		}
	}
	// Mixed sector sizes inside a swap-move slot.
	mixed := strings.Replace(string(base), "- {size: 0x1000, count: 70}    # image slots", "- {size: 0x1000, count: 16}\n    - {size: 0x2000, count: 1}\n    - {size: 0x1000, count: 52}", 1)
	if _, err := ParseConfig([]byte(mixed), false); err == nil || !strings.Contains(err.Error(), "one sector size") {
		t.Errorf("mixed sectors: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"flash": 1}`), true); err == nil || !strings.Contains(err.Error(), "1:11: flash: want a mapping") {
		t.Errorf("json type error without a line: %v", err)
	}
	if _, err := ParseConfig(make([]byte, maxConfigSize+1), true); err == nil {
		t.Error("oversized config accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"testdata/two-images.yaml", "testdata/one-image.json", "testdata/scratch.yaml", "testdata/ram-load.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(p, ".json"))
	}
	f.Add([]byte("flash: {sectors: [{size: 1, count: 1000000000}]}"), false)
	f.Fuzz(func(t *testing.T, b []byte, isJSON bool) {
		c, err := ParseConfig(b, isJSON)
		if err != nil {
			return
		}
		// Whatever validates must resolve to slots a bootloader can use.
		l, err := c.layout()
		if err != nil {
			t.Fatalf("validated config does not lay out: %v", err)
		}
		for _, im := range l.images {
			if im.maxImageSize(l) <= 0 {
				t.Fatal("validated config has no room for an image")
			}
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(js, true); err != nil {
			t.Fatalf("validated config does not round-trip: %v", err)
		}
	})
}
