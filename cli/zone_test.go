package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZoneDevices(t *testing.T) {
	code, out, _ := run(t, "zone", "devices")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, d := range []string{"mps2-an505", "mps2-an521", "stm32l552ze", "lpc55s69", "nrf5340-app"} {
		if !strings.Contains(out, d) {
			t.Errorf("zone devices lacks %s:\n%s", d, out)
		}
	}
	code, out, _ = run(t, "zone", "devices", "--json")
	var list []map[string]any
	if code != ExitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) < 5 {
		t.Fatalf("--json: exit %d, %d devices", code, len(list))
	}
}

func TestZoneCheckExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/zone/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d examples", len(files))
	}
	for _, f := range files {
		code, out, errb := run(t, "zone", "check", f)
		if code != ExitOK || !strings.Contains(out, " 0 errors") {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errb)
		}
	}
}

func TestZoneCheckCMSISAndJSON(t *testing.T) {
	d := "../zone/cmsis/testdata/STM32L5/"
	code, out, errb := run(t, "zone", "check", "--json", "--rzone", d+"STM32L5.rzone", "--azone", d+"STM32L5.azone")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var rep struct {
		OK  bool `json:"ok"`
		SAU []struct {
			Start string `json:"start"`
			NSC   bool   `json:"nsc"`
		} `json:"sau"`
		ITNS []string `json:"itns"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.SAU) != 4 || rep.SAU[1].Start != "0x0C03E000" || !rep.SAU[1].NSC || rep.ITNS[1] != "0x40008020" {
		t.Fatalf("unexpected report %+v", rep)
	}
}

func TestZoneCheckFailures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src, err := os.ReadFile("../examples/zone/an505-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// CODE_NS now overlaps the veneer: a failed check (exit 1) naming file:line.
	os.WriteFile(bad, []byte(strings.Replace(string(src), "offset: 0x80000,", "offset: 0x7F800,", 1)), 0o644)
	code, out, _ := run(t, "zone", "check", bad)
	if code != ExitFailure || !strings.Contains(out, "bad.yaml:") {
		t.Fatalf("overlap: exit %d\n%s", code, out)
	}
	// Nothing is generated for a project with errors.
	outDir := filepath.Join(dir, "gen")
	code, _, _ = run(t, "zone", "generate", bad, "--out", outDir)
	if _, statErr := os.Stat(outDir); code != ExitFailure || statErr == nil {
		t.Fatalf("generate on errors: exit %d, out dir exists: %v", code, statErr == nil)
	}
	// Syntax error: exit 1 with a hint; missing file: exit 3; usage: exit 2.
	os.WriteFile(bad, []byte("device: mps2-an505\nbogus: true\n"), 0o644)
	if code, _, errb := run(t, "zone", "check", bad); code != ExitFailure || !strings.Contains(errb, "bad.yaml:2") {
		t.Fatalf("unknown field: exit %d %s", code, errb)
	}
	if code, _, _ := run(t, "zone", "check", filepath.Join(dir, "missing.yaml")); code != ExitError {
		t.Fatalf("missing file: exit %d", code)
	}
	if code, _, _ := run(t, "zone", "check"); code != ExitUsage {
		t.Fatalf("no file: exit %d", code)
	}
	if code, _, _ := run(t, "zone", "generate", "../examples/zone/an505-demo.yaml"); code != ExitUsage {
		t.Fatalf("no --out: exit %d", code)
	}
	if code, _, _ := run(t, "zone", "check", "--rzone", "x.rzone"); code != ExitUsage {
		t.Fatalf("--rzone alone: exit %d", code)
	}
}

func TestZoneGenerate(t *testing.T) {
	dir := t.TempDir()
	code, out, errb := run(t, "zone", "generate", "../examples/zone/an521-tfm.yaml", "--out", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	for _, f := range []string{"partition_mps2_an521.h", "tfm_s.ld", "tfm_ns.ld", "mem_layout.h", "flash_layout.h", "region_defs.h",
		"mcuboot_partitions.overlay", "flash_map.yaml", "memory_map.svg", "memory_map.md", "mpu_config.h"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil || !strings.Contains(out, f) {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
}

func TestZoneImport(t *testing.T) {
	d := "../zone/cmsis/testdata/LPC55S69/"
	out := filepath.Join(t.TempDir(), "lpc.yaml")
	if code, _, errb := run(t, "zone", "import", "--rzone", d+"LPC55S69.rzone", "--azone", d+"LPC55S69.azone", "-o", out); code != ExitOK {
		t.Fatalf("import: exit %d %s", code, errb)
	}
	code, stdout, _ := run(t, "zone", "check", out)
	if code != ExitOK || !strings.Contains(stdout, "0x1000FE00..0x1000FFE0 nsc (Veneer)") {
		t.Fatalf("check of imported YAML: exit %d\n%s", code, stdout)
	}
}

func TestZoneCheckStrict(t *testing.T) {
	// an521-tfm has one MPC warning: clean without --strict, a failure with it.
	if code, _, _ := run(t, "zone", "check", "../examples/zone/an521-tfm.yaml"); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if code, _, errb := run(t, "zone", "check", "--strict", "../examples/zone/an521-tfm.yaml"); code != ExitFailure || !strings.Contains(errb, "warnings with --strict") {
		t.Fatalf("--strict: exit %d %s", code, errb)
	}
}
