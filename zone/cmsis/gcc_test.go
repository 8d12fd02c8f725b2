package cmsis

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

// The headers generated from every TrustZone CMSIS-Zone example compile
// warning-free with arm-none-eabi-gcc for the example's core.
func TestImportedHeadersCompile(t *testing.T) {
	gcc := os.Getenv("RAMPART_ARM_GCC")
	if gcc == "" {
		var err error
		if gcc, err = exec.LookPath("arm-none-eabi-gcc"); err != nil {
			t.Skip("arm-none-eabi-gcc not found (install gcc-arm-none-eabi, or set RAMPART_ARM_GCC)")
		}
	}
	for _, b := range examples {
		p := load(t, b)
		if p.Mode == "mpu" {
			continue
		}
		out, err := zone.Generate(zone.Analyze(p))
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		dir := t.TempDir()
		src := ""
		for _, f := range out {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f.Name, ".h") && f.Name != "mpu_config.h" {
				src += "#include \"" + f.Name + "\"\n"
			}
		}
		src += "void setup(void) { rampart_tz_setup(); rampart_platform_setup(); }\n"
		os.WriteFile(filepath.Join(dir, "t.c"), []byte(src), 0o644)
		cpu := "cortex-m33"
		if strings.Contains(p.Device.Core, "M23") {
			cpu = "cortex-m23"
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		msg, err := exec.CommandContext(ctx, gcc, "-mcpu="+cpu, "-mthumb", "-mcmse", "-Wall", "-Wextra", "-Werror", "-c",
			"-I", dir, filepath.Join(dir, "t.c"), "-o", filepath.Join(dir, "t.o")).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: %v\n%s", b, err, msg)
		}
	}
}
