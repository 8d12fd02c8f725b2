package mcubootoracle

import (
	"errors"
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

// TestMbedTLS3RefusesOtherTrees: RAMPART_MBEDTLS3 naming an mbedTLS 2.28
// tree (bookworm's: no build_info.h), or a 3.x header without the library,
// is ErrNoMbedTLS3, so the RSA-OAEP/AES-256 tests skip instead of failing
// to compile; a 3.x tree with its library is taken.
func TestMbedTLS3RefusesOtherTrees(t *testing.T) {
	tree := func(buildInfo string, lib bool) string {
		d := t.TempDir()
		if err := os.MkdirAll(filepath.Join(d, "include", "mbedtls"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d, "lib"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "include", "mbedtls", "version.h"), []byte("#define MBEDTLS_VERSION_MAJOR  2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if buildInfo != "" {
			if err := os.WriteFile(filepath.Join(d, "include", "mbedtls", "build_info.h"), []byte(buildInfo), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if lib {
			if err := os.WriteFile(filepath.Join(d, "lib", "libmbedcrypto.a"), []byte("!<arch>\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	v3 := "#define MBEDTLS_VERSION_MAJOR  3\n#define MBEDTLS_VERSION_MINOR  6\n"
	for _, c := range []struct {
		name string
		dir  string
		ok   bool
	}{
		{"unset", "", false},
		{"2.28", tree("", true), false},
		{"major 30", tree("#define MBEDTLS_VERSION_MAJOR  30\n", true), false},
		{"3.6 without libmbedcrypto.a", tree(v3, false), false},
		{"3.6", tree(v3, true), true},
	} {
		t.Setenv("RAMPART_MBEDTLS3", c.dir)
		d, err := MbedTLS3()
		if c.ok && (err != nil || d != c.dir) {
			t.Errorf("%s: %q, %v; want the tree", c.name, d, err)
		}
		if !c.ok && !errors.Is(err, ErrNoMbedTLS3) {
			t.Errorf("%s: %q, %v; want ErrNoMbedTLS3", c.name, d, err)
		}
	}
}
