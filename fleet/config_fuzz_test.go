package fleet

import (
	"os"
	"testing"
)

// FuzzParseConfig feeds hostile configuration files to the server's loader:
// it must never panic, and a configuration it accepts must validate.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../examples/fleet/server.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("listen: {}\n"))
	f.Add([]byte("{"))
	f.Add([]byte("storage:\n  driver: postgres\n  dsn: ''\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			return
		}
		if cfg == nil {
			t.Fatal("accepted a configuration without returning it")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a configuration that does not validate: %v", err)
		}
	})
}
