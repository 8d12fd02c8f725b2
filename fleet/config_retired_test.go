package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRetiredReleaseKeyConfig: a retired release key is loaded, and one
// that is also trusted is refused with the file and line.
func TestRetiredReleaseKeyConfig(t *testing.T) {
	dir := t.TempDir()
	key, err := filepath.Abs("../examples/fleet/release.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	ok := "data_dir: d\nretired_release_keys: [" + key + "]\n"
	cfg, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(ok))
	if err != nil || len(cfg.retiredKeys) != 1 {
		t.Fatalf("retired key: %v (%d loaded)", err, len(cfg.retiredKeys))
	}
	both := "data_dir: d\nrelease_keys: [" + key + "]\nretired_release_keys: [" + key + "]\n"
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(both), 0o600)
	if _, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(both)); err == nil || !strings.Contains(err.Error(), "c.yaml:3:") || !strings.Contains(err.Error(), "also in release_keys") {
		t.Fatalf("a key both trusted and retired: %v", err)
	}
}
