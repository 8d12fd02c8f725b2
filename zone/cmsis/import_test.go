package cmsis

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"rampart/zone"
)

var examples = []string{"STM32L5", "LPC55S69", "M2351", "Musca-S1", "SAML11", "MCBSTM32F400"}

func load(t testing.TB, b string) *zone.Project {
	t.Helper()
	p, err := Load(filepath.Join("testdata", b, b+".rzone"), filepath.Join("testdata", b, b+".azone"))
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return p
}

// Every shared CMSIS-Zone example imports and checks without errors.
func TestExamplesImportAndCheck(t *testing.T) {
	for _, b := range examples {
		t.Run(b, func(t *testing.T) {
			p := load(t, b)
			l := zone.Analyze(p)
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			if len(p.Zones) == 0 || len(p.Partitions) == 0 {
				t.Fatalf("imported %d zones and %d partitions", len(p.Zones), len(p.Partitions))
			}
			for _, w := range l.Warnings() {
				t.Logf("%s", w)
			}
		})
	}
}

var defineRE = regexp.MustCompile(`(?m)^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)`)

func defines(t *testing.T, text string) map[string]uint64 {
	out := map[string]uint64{}
	for _, m := range defineRE.FindAllStringSubmatch(text, -1) {
		v, err := strconv.ParseUint(m[2], 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[m[1]] = v
	}
	return out
}

// The STM32L5 example yields CMSIS-Zone's own SAU regions and interrupt targets.
func TestSTM32L5MatchesCMSISZone(t *testing.T) {
	golden, err := os.ReadFile("testdata/STM32L5/partition_gen.h")
	if err != nil {
		t.Fatal(err)
	}
	want := defines(t, string(golden))
	l := zone.Analyze(load(t, "STM32L5"))
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 8; n++ {
		en := want["SAU_INIT_REGION"+strconv.Itoa(n)]
		if (n < len(l.SAU)) != (en == 1) {
			t.Fatalf("region %d enabled: got %v, CMSIS-Zone %d", n, n < len(l.SAU), en)
		}
		if en == 0 {
			continue
		}
		r := l.SAU[n]
		nsc := uint64(0)
		if r.NSC {
			nsc = 1
		}
		if r.Start != want["SAU_INIT_START"+strconv.Itoa(n)] || r.End() != want["SAU_INIT_END"+strconv.Itoa(n)] || nsc != want["SAU_INIT_NSC"+strconv.Itoa(n)] {
			t.Errorf("region %d: got 0x%08X..0x%08X nsc=%d, CMSIS-Zone 0x%08X..0x%08X nsc=%d", n, r.Start, r.End(), nsc,
				want["SAU_INIT_START"+strconv.Itoa(n)], want["SAU_INIT_END"+strconv.Itoa(n)], want["SAU_INIT_NSC"+strconv.Itoa(n)])
		}
	}
	for w := 0; w < 4; w++ {
		if got, exp := uint64(l.ITNS[w]), want["NVIC_INIT_ITNS"+strconv.Itoa(w)+"_VAL"]; got != exp {
			t.Errorf("ITNS%d: got 0x%08X, CMSIS-Zone 0x%08X", w, got, exp)
		}
	}
}

func TestImportErrors(t *testing.T) {
	r, _ := os.ReadFile("testdata/STM32L5/STM32L5.rzone")
	a, _ := os.ReadFile("testdata/STM32L5/STM32L5.azone")
	cases := map[string][2]string{
		"azone as rzone": {string(a), string(a)},
		"bad number":     {string(r), regexp.MustCompile(`size="0x3E000"`).ReplaceAllString(string(a), `size="0xZZ"`)},
		"unknown parent": {string(r), regexp.MustCompile(`parent="Flash_S"`).ReplaceAllString(string(a), `parent="Nope"`)},
		"bad security":   {string(r), regexp.MustCompile(`security="s"`).ReplaceAllString(string(a), `security="x"`)},
		"two roots":      {string(r) + "<rzone/>", string(a)},
		"not xml":        {"{}", string(a)},
	}
	for name, c := range cases {
		if _, err := Import([]byte(c[0]), "r.rzone", []byte(c[1]), "a.azone"); err == nil {
			t.Errorf("%s: imported", name)
		} else if !errors.Is(err, ErrFormat) && !errors.Is(err, zone.ErrReference) {
			t.Errorf("%s: error %v wraps neither ErrFormat nor ErrReference", name, err)
		}
	}
}

// The generated mem_layout.h has CMSIS-Zone's regions, addresses and sizes.
func TestSTM32L5MemLayout(t *testing.T) {
	golden, err := os.ReadFile("testdata/STM32L5/mem_layout.h")
	if err != nil {
		t.Fatal(err)
	}
	files, err := zone.Generate(zone.Analyze(load(t, "STM32L5")))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]uint64
	for _, f := range files {
		if f.Name == "mem_layout.h" {
			got = defines(t, string(f.Data))
		}
		if f.Name == "partition_STM32L552ZETxQ.h" {
			h := defines(t, string(f.Data))
			if h["NVIC_INIT_ITNS1_VAL"] != 0x40008020 || h["SAU_INIT_START1"] != 0x0C03E000 {
				t.Errorf("partition header: ITNS1 0x%X START1 0x%X", h["NVIC_INIT_ITNS1_VAL"], h["SAU_INIT_START1"])
			}
		}
	}
	want := defines(t, string(golden))
	if len(want) != 15 || len(got) != len(want) {
		t.Fatalf("got %d defines, CMSIS-Zone %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got 0x%X, CMSIS-Zone 0x%X", k, got[k], v)
		}
	}
}

// Every imported example converts to Rampart YAML that loads back to the same
// layout (SAU regions, interrupt targets, peripheral states, MPU regions).
func TestImportedExamplesRoundTripThroughYAML(t *testing.T) {
	for _, b := range examples {
		t.Run(b, func(t *testing.T) {
			p := load(t, b)
			y, err := zone.MarshalProject(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := zone.ParseProject(y, b+".yaml")
			if err != nil {
				t.Fatalf("%v\n%s", err, y)
			}
			l1, l2 := zone.Analyze(p), zone.Analyze(q)
			if !reflect.DeepEqual(l1.SAU, l2.SAU) || !reflect.DeepEqual(l1.ITNS, l2.ITNS) ||
				!reflect.DeepEqual(l1.PeripheralSecurity, l2.PeripheralSecurity) || !reflect.DeepEqual(l1.MPU, l2.MPU) {
				t.Fatalf("layout changed through YAML:\n%s", y)
			}
			if (l1.Err() == nil) != (l2.Err() == nil) {
				t.Fatalf("check result changed: %v vs %v", l1.Err(), l2.Err())
			}
		})
	}
}
