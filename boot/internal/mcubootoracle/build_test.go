package mcubootoracle

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheKeyIgnoresLocation copies MCUboot's tree and the glue to other
// directories, with other modification times, as a clean clone or a CI
// checkout has them: every configuration's library keeps its cache key, so
// it is not built again. A changed source byte changes the key.
func TestCacheKeyIgnoresLocation(t *testing.T) {
	src, err := Source()
	if err != nil {
		t.Skipf("MCUboot sources: %v", err)
	}
	glue, err := glueSource()
	if err != nil {
		t.Fatal(err)
	}
	src2 := filepath.Join(t.TempDir(), "mcuboot")
	for _, d := range []string{"boot/bootutil", "ext/tinycrypt/lib", "ext/tinycrypt-sha512/lib", "ext/fiat", "ext/mbedtls-asn1", "sim/mcuboot-sys/csupport"} {
		if err := os.CopyFS(filepath.Join(src2, d), os.DirFS(filepath.Join(src, d))); err != nil {
			t.Fatal(err)
		}
	}
	glueDir2 := filepath.Join(t.TempDir(), "checkout", "csrc")
	if err := os.CopyFS(glueDir2, os.DirFS(filepath.Dir(glue))); err != nil {
		t.Fatal(err)
	}
	glue2 := filepath.Join(glueDir2, filepath.Base(glue))
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src2, "boot/bootutil/src/loader.c"), later, later); err != nil {
		t.Fatal(err)
	}
	key := func(cfg Config, src, glue string) string {
		t.Helper()
		args, err := cfg.args(src, glue)
		if err != nil {
			t.Fatal(err)
		}
		k, err := cacheKey(cfg, src, glue, args)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cfgs := []Config{
		{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 9, Images: 1, SigMemo: true},
		{Strategy: RAMLoadRevert, MaxAlign: 16, MaxSectors: 9, Images: 2, Encrypted: true, KW: true},
		{Strategy: SwapOffset, MaxAlign: 8, MaxSectors: 9, Images: 1, Encrypted: true, X25519: true},
	}
	for _, cfg := range cfgs {
		if a, b := key(cfg, src, glue), key(cfg, src2, glue2); a != b {
			t.Errorf("%+v: key %s here, %s in another checkout", cfg, a, b)
		}
	}
	if key(cfgs[0], src, glue) == key(cfgs[1], src, glue) {
		t.Error("two configurations share a key")
	}
	p := filepath.Join(src2, "boot/bootutil/src/swap_move.c")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	treeMu.Lock()
	delete(treeDigests, src2+"\x00"+glue2) // the digest is computed once per process
	treeMu.Unlock()
	if key(cfgs[0], src, glue) == key(cfgs[0], src2, glue2) {
		t.Error("a changed MCUboot source kept the key")
	}
}
