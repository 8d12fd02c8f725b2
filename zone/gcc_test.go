package zone_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/zone"
)

// tool finds an external tool from an env var or PATH, or skips.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found (install gcc-arm-none-eabi / qemu-system-arm, or set %s)", name, env)
	}
	return p
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDemo generates the AN505 demo's files and links a Secure and a
// Non-secure Cortex-M33 image against them with arm-none-eabi-gcc.
func buildDemo(t *testing.T) (dir, secure, nonsecure string) {
	gcc := tool(t, "RAMPART_ARM_GCC", "arm-none-eabi-gcc")
	p, err := zone.LoadProject("testdata/an505-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := zone.Generate(zone.Analyze(p))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"-mcpu=cortex-m33", "-mthumb", "-O1", "-ffreestanding", "-nostdlib", "-nostartfiles", "-Wall", "-Werror", "-I", dir}
	secure = filepath.Join(dir, "secure.elf")
	nonsecure = filepath.Join(dir, "nonsecure.elf")
	veneers := filepath.Join(dir, "veneers.o")
	run(t, time.Minute, gcc, append(common, "-mcmse", "-T", filepath.Join(dir, "secure.ld"), "testdata/tz/secure.c", "-lgcc",
		"-Wl,--cmse-implib,--out-implib="+veneers, "-o", secure)...)
	run(t, time.Minute, gcc, append(common, "-T", filepath.Join(dir, "nonsecure.ld"), "testdata/tz/nonsecure.c", veneers,
		"-Wl,--entry=NS_Reset_Handler", "-o", nonsecure)...)
	return dir, secure, nonsecure
}

func TestGeneratedFilesCompileAndLink(t *testing.T) {
	_, secure, nonsecure := buildDemo(t)
	nm := tool(t, "RAMPART_ARM_NM", "arm-none-eabi-nm")
	syms := func(elf string) map[string]string {
		out := map[string]string{}
		for _, ln := range strings.Split(run(t, time.Minute, nm, elf), "\n") {
			if f := strings.Fields(ln); len(f) == 3 {
				out[f[2]] = f[0]
			}
		}
		return out
	}
	s, ns := syms(secure), syms(nonsecure)
	// The SG veneer sits in the NSC partition (VENEER, 0x1007F000..); the Secure
	// image in CODE_S at the Secure alias; the Non-secure image in CODE_NS.
	if v := s["secure_add"]; !strings.HasPrefix(v, "1007f") {
		t.Errorf("secure_add veneer at %s, want inside VENEER 0x1007F000", v)
	}
	if v := s["Reset_Handler"]; !strings.HasPrefix(v, "100") || v >= "1007f000" {
		t.Errorf("secure Reset_Handler at %s, want inside CODE_S", v)
	}
	if s["__sg_end__"] <= s["__sg_start__"] {
		t.Errorf("veneer section bounds %s..%s are empty", s["__sg_start__"], s["__sg_end__"])
	}
	if v := ns["NS_Reset_Handler"]; !strings.HasPrefix(v, "0008") {
		t.Errorf("non-secure Reset_Handler at %s, want inside CODE_NS 0x00080000", v)
	}
	if v := ns["secure_add"]; v != s["secure_add"] {
		t.Errorf("non-secure image calls secure_add at %s, the veneer is at %s", v, s["secure_add"])
	}
}

// Boot both images on QEMU's AN505: the Non-secure image calls the Secure
// function through its veneer, then reads Secure memory, which must end in a
// SecureFault taken by the Secure image.
func TestQEMUNonSecureAccessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	qemu := tool(t, "RAMPART_QEMU_ARM", "qemu-system-arm")
	_, secure, nonsecure := buildDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, qemu, "-M", "mps2-an505", "-nographic", "-monitor", "none", "-serial", "none",
		"-semihosting", "-kernel", secure, "-device", "loader,file="+nonsecure).CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, text)
	}
	for _, want := range []string{"secure_add(40, 2) = 42 through the NSC veneer", "reading secure memory", "secure: fault from non-secure code, SFSR=0x00000008"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, "did not fault") {
		t.Errorf("non-secure read of secure memory succeeded:\n%s", text)
	}
}

// Every example's generated headers compile warning-free and its secure
// linker script links a trivial image, for the example's own core.
func TestAllExamplesCompile(t *testing.T) {
	gcc := tool(t, "RAMPART_ARM_GCC", "arm-none-eabi-gcc")
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := zone.LoadProject(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := zone.Generate(zone.Analyze(p))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var includes []string
			for _, g := range out {
				if err := os.WriteFile(filepath.Join(dir, g.Name), g.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(g.Name, ".h") && g.Name != "mpu_config.h" {
					includes = append(includes, "#include \""+g.Name+"\"\n")
				}
			}
			src := strings.Join(includes, "") + `
extern unsigned int __StackTop;
void Reset_Handler(void) { rampart_tz_setup(); rampart_platform_setup(); for (;;) { } }
__attribute__((section(".vectors"), used)) static const void *const vectors[2] = { &__StackTop, Reset_Handler };
`
			if err := os.WriteFile(filepath.Join(dir, "t.c"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			cpu := "cortex-m33"
			if strings.Contains(p.Device.Core, "M23") {
				cpu = "cortex-m23"
			}
			ld := filepath.Join(dir, zone.FileName(p.SecurityZones(zone.Secure)[0].Name)+".ld")
			run(t, time.Minute, gcc, "-mcpu="+cpu, "-mthumb", "-mcmse", "-O1", "-ffreestanding", "-nostdlib", "-nostartfiles",
				"-Wall", "-Wextra", "-Werror", "-I", dir, "-T", ld, filepath.Join(dir, "t.c"), "-o", filepath.Join(dir, "t.elf"))
		})
	}
}
