package zone

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExamplesCheckClean(t *testing.T) {
	for _, f := range []string{"testdata/an505-demo.yaml", "testdata/an521-tfm.yaml"} {
		p, err := LoadProject(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Analyze(p).Err(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// Errors name the file and line of the offending item.
func TestCheckErrorsCarryLines(t *testing.T) {
	base := string(mustRead(t, "testdata/an505-demo.yaml"))
	cases := []struct{ name, from, to, code string }{
		{"overlap", "offset: 0x80000,", "offset: 0x7E000,", "Z10"},
		{"sau alignment", "size: 0x80000, security: non-secure", "size: 0x7FFF0, security: non-secure", "Z-SAU-ALIGN"},
		{"outside memory", "offset: 1M,       size: 1M", "offset: 1M,       size: 4M", "Z103"},
		{"nsc not code", "{name: VENEER,  memory: SSRAM1,  offset: 0x7F000,  size: 0x1000,  security: nsc,    access: rx}", "{name: VENEER,  memory: SSRAM1,  offset: 0x7F000,  size: 0x1000,  security: nsc,    access: r}", "Z-NSC-CODE"},
		{"peripheral twice", "peripherals: [UART1, TIMER1]", "peripherals: [UART0, TIMER1]", "Z-PERIPH-TWICE"},
		{"unknown peripheral", "peripherals: [UART1, TIMER1]", "peripherals: [UART9, TIMER1]", "Z202"},
		{"irq mismatch", "peripherals: [UART1, TIMER1]", "peripherals: [UART1, TIMER1]\n    interrupts: [UART0_RX]", "Z-IRQ-MISMATCH"},
		{"unassigned", "unassigned: secure", "unassigned: error", "Z-PERIPH-UNASSIGNED"},
		{"mpc block", "{name: CODE_NS, memory: SSRAM1,  offset: 0x80000", "{name: CODE_NS, memory: SSRAM1,  offset: 0x80000", ""},
	}
	for _, c := range cases {
		src := strings.Replace(base, c.from, c.to, 1)
		if src == base && c.code != "" {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		p, err := ParseProject([]byte(src), "demo.yaml")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		l := Analyze(p)
		if c.code == "" {
			if err := l.Err(); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ce *CheckError
		if err := l.Err(); !errors.As(err, &ce) || !errors.Is(err, ErrCheck) {
			t.Fatalf("%s: want a CheckError, got %v", c.name, err)
		}
		found := false
		for _, d := range ce.Diagnostics {
			if strings.HasPrefix(d.Code, c.code) {
				found = true
				if d.File != "demo.yaml" || (d.Line == 0 && c.code != "Z-PERIPH-UNASSIGNED") {
					t.Errorf("%s: diagnostic without position: %s", c.name, d)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s in %v", c.name, c.code, ce.Diagnostics)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		"unknown field":   "device: mps2-an505\nbogus: 1\n",
		"bad number":      "device: mps2-an505\npartitions:\n  - {name: A, memory: SSRAM1, size: 0xZZ}\n",
		"too big number":  "device: mps2-an505\npartitions:\n  - {name: A, memory: SSRAM1, size: 0x1FFFFFFFF}\n",
		"bad security":    "device: mps2-an505\npartitions:\n  - {name: A, memory: SSRAM1, size: 32, security: maybe}\n",
		"unknown device":  "device: nosuchchip\n",
		"no device":       "name: x\n",
		"two documents":   "device: mps2-an505\n---\ndevice: mps2-an505\n",
		"nested unknown":  "device: mps2-an505\nzones:\n  - {name: z, security: secure, color: red}\n",
		"device and desc": "device: mps2-an505\ndevice_description: {name: x}\n",
	}
	for name, src := range cases {
		_, err := ParseProject([]byte(src), "x.yaml")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrReference) {
			t.Errorf("%s: %v wraps neither ErrSyntax nor ErrReference", name, err)
		}
		if !strings.Contains(err.Error(), "x.yaml") {
			t.Errorf("%s: %v does not name the file", name, err)
		}
	}
	_, err := ParseProject([]byte("device: mps2-an505\nbogus: 1\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2") {
		t.Errorf("unknown field error lacks file:line: %v", err)
	}
}

// Every prefix of a valid project either fails to parse or, if it parses,
// is analysed without panicking; the full file is clean.
func TestTruncatedProjects(t *testing.T) {
	data := mustRead(t, "testdata/an521-tfm.yaml")
	step := 1
	if raceEnabled {
		step = 17 // the race detector makes every prefix take minutes on two cores
	}
	for i := 0; i < len(data); i += step {
		p, err := ParseProject(data[:i], "t.yaml")
		if err == nil {
			Analyze(p)
		}
	}
	p, err := ParseProject(data, "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := Analyze(p).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOversizedInput(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if _, err := ParseProject(big, "big.yaml"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestSTM32L5YAMLMatchesCMSISZone(t *testing.T) {
	p, err := LoadProject("testdata/stm32l552-blinky.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := Analyze(p)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	want := []SAURegion{{Start: 0x08040000, Limit: 0x0807FFFF}, {Start: 0x0C03E000, Limit: 0x0C03FFFF, NSC: true},
		{Start: 0x20000000, Limit: 0x2001FFFF}, {Start: 0x40000000, Limit: 0x4FFFFFFF}}
	if len(l.SAU) != len(want) {
		t.Fatalf("got %d SAU regions", len(l.SAU))
	}
	for i, w := range want {
		g := l.SAU[i]
		if g.Start != w.Start || g.Limit != w.Limit || g.NSC != w.NSC {
			t.Errorf("region %d: got %+v want %+v", i, g, w)
		}
	}
	if l.ITNS[1] != 0x40008020 || l.ITNS[0] != 0 || l.ITNS[2] != 0 {
		t.Errorf("ITNS %08X, CMSIS-Zone has ITNS1 = 0x40008020", l.ITNS)
	}
}

func TestSAUBudgetMerges(t *testing.T) {
	src := "device_description:\n  name: tiny\n  sau_regions: 4\n  memories:\n    - {name: M, type: ram, size: 64K, ns: 0x20000000, s: 0x30000000}\n" +
		"partitions:\n"
	for i := 0; i < 6; i++ {
		src += "  - {name: P" + string(rune('0'+i)) + ", memory: M, offset: " + []string{"0", "4K", "8K", "12K", "16K", "20K"}[i] + ", size: 4K, security: non-secure}\n"
	}
	src += "  - {name: S, memory: M, offset: 32K, size: 4K, security: secure}\nzones:\n  - {name: s, security: secure, partitions: [S]}\n  - {name: n, security: non-secure, partitions: [P0, P1, P2, P3, P4, P5]}\n"
	p, err := ParseProject([]byte(src), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := Analyze(p)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if len(l.SAU) != 1 || l.SAU[0].Start != 0x20000000 || l.SAU[0].Limit != 0x20005FFF {
		t.Fatalf("6 adjacent ranges with 4 SAU regions: got %+v", l.SAU)
	}
	// With gaps they cannot merge: error Z110.
	src2 := strings.ReplaceAll(src, "size: 4K, security: non-secure", "size: 2K, security: non-secure")
	p, err = ParseProject([]byte(src2), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := Analyze(p).Err(); err == nil || !strings.Contains(err.Error(), "Z110") {
		t.Fatalf("got %v, want Z110", err)
	}
}

func TestArmv7Encoding(t *testing.T) {
	cases := []struct {
		start, size uint64
		ok          bool
		srd         uint8
	}{
		{0x20000000, 0x8000, true, 0},
		{0x20000000, 0x7000, true, 0x80}, // 7 of 8 subregions of 32K
		{0x2000E000, 0x8000, false, 0},
		{0x100, 0x20, true, 0},
		{0x110, 0x20, false, 0},
	}
	for _, c := range cases {
		r := MPURegion{Start: c.start, Size: c.size}
		if got := encodeV7(&r); got != c.ok || (got && r.SRD != c.srd) {
			t.Errorf("0x%X+0x%X: ok=%v srd=%02X, want %v %02X", c.start, c.size, got, r.SRD, c.ok, c.srd)
		}
	}
}

// A YAML alias bomb is refused by the decoder instead of expanding.
func TestYAMLAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
	if _, err := ParseProject([]byte(src), "bomb.yaml"); err == nil {
		t.Fatal("alias bomb accepted")
	}
}
