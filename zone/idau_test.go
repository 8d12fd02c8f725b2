package zone

import (
	"strings"
	"testing"
)

func analyzeEdited(t *testing.T, file, from, to string) *Layout {
	t.Helper()
	src := string(mustRead(t, file))
	edited := strings.Replace(src, from, to, 1)
	if from != "" && edited == src {
		t.Fatalf("%s: %q not found", file, from)
	}
	p, err := ParseProject([]byte(edited), file)
	if err != nil {
		t.Fatal(err)
	}
	return Analyze(p)
}

func wantCode(t *testing.T, l *Layout, code string) {
	t.Helper()
	for _, d := range l.Diagnostics {
		if d.Code == code && d.Severity == Error {
			return
		}
	}
	t.Errorf("no error %s in %v", code, l.Diagnostics)
}

func generated(t *testing.T, l *Layout, name string) string {
	t.Helper()
	files, err := Generate(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == name {
			return string(f.Data)
		}
	}
	t.Fatalf("%s not generated", name)
	return ""
}

func TestNRFSPU(t *testing.T) {
	const f = "testdata/nrf5340-app.yaml"
	l := analyzeEdited(t, f, "", "")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if len(l.SAU) != 0 {
		t.Fatalf("an SPU device got SAU regions %v", l.SAU)
	}
	spu := generated(t, l, "spu_config.h")
	for _, want := range []string{"SPU_FLASH_NS_MASK0      0xFFFF0000U", "SPU_FLASHNSC0_REGION   15", "SPU_FLASHNSC0_SIZE     8", "SPU_RAM_NS_MASK1      0xFFFFFFFFU"} {
		if !strings.Contains(spu, want) {
			t.Errorf("spu_config.h lacks %q:\n%s", want, spu)
		}
	}
	if h := generated(t, l, "partition_nrf5340_app.h"); !strings.Contains(h, "SAU_INIT_CTRL_ENABLE   0") || !strings.Contains(h, "SAU_INIT_CTRL_ALLNS    1") {
		t.Errorf("SAU not disabled with ALLNS for an SPU device:\n%s", h)
	}
	// A non-secure partition that splits a 16 KiB region with secure code.
	wantCode(t, analyzeEdited(t, f, "offset: 0x40000, size: 0xC0000", "offset: 0x3F000, size: 0xC1000"), "Z-SPU-REGION")
	// An NSC window that is too large, and one not at a region's top.
	wantCode(t, analyzeEdited(t, f, "offset: 0x3F000, size: 0x1000,  security: nsc", "offset: 0x3E000, size: 0x2000,  security: nsc"), "Z-SPU-NSC")
	wantCode(t, analyzeEdited(t, f, "offset: 0x3F000, size: 0x1000,  security: nsc", "offset: 0x3F000, size: 0x800,  security: nsc"), "Z-SPU-NSC")
}

func TestSAML11Fuses(t *testing.T) {
	const f = "testdata/saml11-app.yaml"
	l := analyzeEdited(t, f, "", "")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	h := generated(t, l, "saml11_fuses.h")
	for _, want := range []string{"SAML11_FUSE_AS       128", "SAML11_FUSE_ANSC     32", "SAML11_FUSE_DS       4", "SAML11_FUSE_RS       64"} {
		if !strings.Contains(h, want) {
			t.Errorf("saml11_fuses.h lacks %q:\n%s", want, h)
		}
	}
	// Non-secure data flash below the secure part: impossible with the fuses.
	wantCode(t, analyzeEdited(t, f, "{name: DATA_S,  memory: IROM2, offset: 0,      size: 0x400", "{name: DATA_S,  memory: IROM2, offset: 0x400,  size: 0x400"), "Z-SAML11")
	// The NSC range must be the top of the secure application.
	src := strings.NewReplacer("{name: APP_S,   memory: IROM1, offset: 0,", "{name: APP_S,   memory: IROM1, offset: 0x400,",
		"{name: APP_NSC, memory: IROM1, offset: 0x7C00,", "{name: APP_NSC, memory: IROM1, offset: 0,").Replace(string(mustRead(t, f)))
	p, err := ParseProject([]byte(src), f)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, Analyze(p), "Z-SAML11")
}

// The AN505's vendor settings are generated: NSCCFG.CODENSC for the veneers in
// Secure code memory, and one MPC call per non-secure partition.
func TestAN505PlatformSetup(t *testing.T) {
	l := analyzeEdited(t, "testdata/an505-demo.yaml", "", "")
	h := generated(t, l, "partition_mps2_an505.h")
	for _, want := range []string{
		"*(volatile unsigned int *)0x50080014u |= 0x1u;",
		"rampart_mpc_open(0x58007000u, 0x00000000u, 0x00080000u, 0x80000u); /* CODE_NS */",
		"rampart_mpc_open(0x58008000u, 0x28000000u, 0x28100000u, 0x100000u); /* DATA_NS */",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("partition header lacks %q", want)
		}
	}
}
