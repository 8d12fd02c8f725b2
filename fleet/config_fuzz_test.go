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
	f.Add([]byte("data_dir: d\ndatabase: postgres://h/db\ncluster:\n  node: a\n  nats: [nats://h:4222, tls://x:1]\n  replicas: 3\n  advertise: {mqtt: [h:1], enroll: https://h:2}\n"))
	f.Add([]byte("data_dir: d\ncluster: {nats: [\"nats://u:p@h:1\", 3], advertise: {mqtt: [nope]}}\n"))
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
