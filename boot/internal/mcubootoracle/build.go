package mcubootoracle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"rampart/internal/secfile"
)

// Strategy is MCUboot's upgrade mode.
type Strategy string

// The upgrade modes the oracle builds.
const (
	SwapMove      Strategy = "swap-move"
	OverwriteOnly Strategy = "overwrite-only"
	// SwapScratch is MCUboot's default mode (swap_scratch.c); the boot
	// needs a scratch area (ScratchID) among the areas.
	SwapScratch Strategy = "swap-scratch"
	// SwapOffset is MCUBOOT_SWAP_USING_OFFSET (swap_offset.c).
	SwapOffset Strategy = "swap-offset"
	// DirectXIP and DirectXIPRevert boot in place from either slot
	// (MCUBOOT_DIRECT_XIP, with MCUBOOT_DIRECT_XIP_REVERT).
	DirectXIP       Strategy = "direct-xip"
	DirectXIPRevert Strategy = "direct-xip-revert"
	// RAMLoad copies the chosen image into a RAM region (MCUBOOT_RAM_LOAD;
	// the region is Oracle.SetRAM's).
	RAMLoad Strategy = "ram-load"
	// RAMLoadRevert adds MCUBOOT_RAM_LOAD_REVERT: a slot is chosen only
	// with a good trailer magic and erased once it booted unconfirmed.
	RAMLoadRevert Strategy = "ram-load-revert"
)

// Config is one compile-time configuration of MCUboot.
type Config struct {
	Strategy   Strategy
	MaxAlign   int // BOOT_MAX_ALIGN: 8, 16 or 32
	MaxSectors int // BOOT_MAX_IMG_SECTORS
	Images     int // MCUBOOT_IMAGE_NUMBER: 1 or 2
	// DowngradePrevention sets MCUBOOT_DOWNGRADE_PREVENTION (overwrite-only).
	DowngradePrevention bool
	// Encrypted sets MCUBOOT_ENC_IMAGES with MCUBOOT_ENCRYPT_EC256 over
	// TinyCrypt, as the simulator's enc-ec256 feature, but without
	// MCUBOOT_SWAP_SAVE_ENCTLV: the trailer keeps the plain body keys, as
	// MCUboot's default configuration (and Rampart) does.
	Encrypted bool
	// X25519 makes the key exchange ECIES-X25519 (MCUBOOT_ENCRYPT_X25519,
	// fiat's curve25519) instead of ECIES-P256, with Encrypted only; the
	// signatures are then Ed25519 (MCUBOOT_SIGN_ED25519), as imgtool
	// pairs them, and the provisioned key an Ed25519 one.
	X25519 bool
	// KW makes the key exchange AES key wrap (MCUBOOT_ENCRYPT_KW over
	// TinyCrypt's AES-128), with Encrypted only: the decrypt key is the raw
	// 16-byte key-encryption key.
	KW bool
	// SigMemo links csrc/sigmemo.c around MCUboot's bootutil_verify_sig:
	// each distinct (key, digest, signature) is verified by MCUboot's code
	// once per loaded library and its answer given again after that (the
	// sweep's boots verify the same few images over and over).
	SigMemo bool
	// RSA makes the key exchange RSA-OAEP (MCUBOOT_ENCRYPT_RSA), with
	// Encrypted only, and the signatures RSA-2048 (MCUBOOT_SIGN_RSA), as
	// imgtool pairs them; AES256 sets MCUBOOT_AES_256 (32-byte body keys).
	// Both need MCUboot's mbedTLS backend, which needs mbedTLS 3: the
	// whole build then uses it (SHA-256, EC P-256 signatures, AES, ECDH),
	// from the tree $RAMPART_MBEDTLS3 names (MbedTLS3).
	RSA    bool
	AES256 bool
	// KXMemo links csrc/kxmemo.c around the ECDH of ECIES-P256
	// (TinyCrypt's uECC_shared_secret) or ECIES-X25519 (fiat's X25519),
	// with Encrypted on TinyCrypt only: each distinct (private key, peer
	// key) is exchanged by MCUboot's code once per loaded library and its
	// shared secret given again after that (every boot that loads a body
	// key runs one).
	KXMemo bool
	// FastAES links csrc/fastaes.c around TinyCrypt's tc_aes_encrypt, with
	// Encrypted on TinyCrypt only: the same AES-128 block function, with
	// the CPU's AES instructions (TinyCrypt's own without them).
	FastAES bool
}

// ErrNoMbedTLS3 is returned for RSA or AES256 configurations when
// RAMPART_MBEDTLS3 does not name an mbedTLS 3 tree.
var ErrNoMbedTLS3 = errors.New("mcubootoracle: RAMPART_MBEDTLS3 does not name an mbedTLS 3 tree (include/mbedtls/build_info.h, lib/libmbedcrypto.a)")

// MbedTLS3 is the mbedTLS 3 tree $RAMPART_MBEDTLS3 names: a directory
// with include/ and lib/libmbedcrypto.a, such as Debian trixie's
// libmbedtls-dev unpacked (dpkg -x) with its usr/lib/<triplet> as lib
// (.ci/mbedtls3 fetches it). A 2.x tree (bookworm's) is refused here, so
// the tests skip rather than fail to compile MCUboot's RSA code.
func MbedTLS3() (string, error) {
	d := os.Getenv("RAMPART_MBEDTLS3")
	if d == "" {
		return "", ErrNoMbedTLS3
	}
	if _, err := os.Stat(filepath.Join(d, "lib", "libmbedcrypto.a")); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMbedTLS3, err)
	}
	// mbedTLS 3 defines its version in build_info.h, which 2.x lacks.
	b, err := os.ReadFile(filepath.Join(d, "include", "mbedtls", "build_info.h"))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMbedTLS3, err)
	}
	if !mbedTLSMajor3.Match(b) {
		return "", fmt.Errorf("%w: %s/include/mbedtls/build_info.h does not define MBEDTLS_VERSION_MAJOR 3", ErrNoMbedTLS3, d)
	}
	return d, nil
}

var mbedTLSMajor3 = regexp.MustCompile(`(?m)^#define MBEDTLS_VERSION_MAJOR\s+3\s*$`)

// mbedTLS reports whether cfg needs MCUboot's mbedTLS backend.
func (cfg Config) mbedTLS() bool { return cfg.RSA || cfg.AES256 }

// ErrNoSource is returned when the MCUboot sources or gcc are not found.
var ErrNoSource = errors.New("mcubootoracle: MCUboot sources or gcc not available")

// Source finds MCUboot's vendor tree: $RAMPART_MCUBOOT, else
// shared/vendor/mcuboot beside the working directory or any of its parents
// (the repository is /work/main and worktrees /work/wt/x, the vendor tree
// /work/shared/vendor/mcuboot).
func Source() (string, error) {
	ok := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "boot", "bootutil", "src", "loader.c"))
		return err == nil
	}
	if d := os.Getenv("RAMPART_MCUBOOT"); d != "" {
		if !ok(d) {
			return "", fmt.Errorf("%w: RAMPART_MCUBOOT=%s holds no boot/bootutil/src/loader.c", ErrNoSource, d)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if c := filepath.Join(d, "shared", "vendor", "mcuboot"); ok(c) {
			return c, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("%w: no shared/vendor/mcuboot above %s and RAMPART_MCUBOOT unset", ErrNoSource, wd)
}

// glueSource is this package's C glue (csrc/oracle.c), found beside this file.
func glueSource() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("mcubootoracle: cannot locate csrc/oracle.c")
	}
	p := filepath.Join(filepath.Dir(file), "csrc", "oracle.c")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("mcubootoracle: %w", err)
	}
	return p, nil
}

// args returns gcc's defines, include directories and sources for cfg.
func (cfg Config) args(src, glue string) ([]string, error) {
	if cfg.Images < 1 || cfg.Images > 2 {
		return nil, fmt.Errorf("mcubootoracle: %d images: the oracle builds 1 or 2", cfg.Images)
	}
	switch cfg.MaxAlign {
	case 8, 16, 32:
	default:
		return nil, fmt.Errorf("mcubootoracle: BOOT_MAX_ALIGN %d", cfg.MaxAlign)
	}
	if cfg.MaxSectors < 1 || cfg.MaxSectors > 512 {
		return nil, fmt.Errorf("mcubootoracle: BOOT_MAX_IMG_SECTORS %d", cfg.MaxSectors)
	}
	bu := filepath.Join(src, "boot", "bootutil", "src")
	tc := filepath.Join(src, "ext", "tinycrypt", "lib")
	a := []string{
		"-D__BOOTSIM__", "-DMCUBOOT_HAVE_LOGGING", "-DMCUBOOT_USE_FLASH_AREA_GET_SECTORS",
		"-DMCUBOOT_HAVE_ASSERT_H", "-DMCUBOOT_VALIDATE_PRIMARY_SLOT",
		fmt.Sprintf("-DMCUBOOT_MAX_IMG_SECTORS=%d", cfg.MaxSectors),
		fmt.Sprintf("-DMCUBOOT_BOOT_MAX_ALIGN=%d", cfg.MaxAlign),
		fmt.Sprintf("-DMCUBOOT_IMAGE_NUMBER=%d", cfg.Images),
		// Security counters in NV storage (the simulator's security_cnt.c):
		// every image's SEC_CNT is checked against them and they are raised
		// as MCUboot decides.
		"-DMCUBOOT_HW_ROLLBACK_PROT",
	}
	a = append(a, sigDefines(cfg)...)
	switch cfg.Strategy {
	case SwapMove:
		a = append(a, "-DMCUBOOT_SWAP_USING_MOVE")
	case OverwriteOnly:
		a = append(a, "-DMCUBOOT_OVERWRITE_ONLY")
	case SwapScratch:
		a = append(a, "-DMCUBOOT_SWAP_USING_SCRATCH=1")
	case SwapOffset:
		a = append(a, "-DMCUBOOT_SWAP_USING_OFFSET")
	case DirectXIP:
		a = append(a, "-DMCUBOOT_DIRECT_XIP")
	case DirectXIPRevert:
		a = append(a, "-DMCUBOOT_DIRECT_XIP", "-DMCUBOOT_DIRECT_XIP_REVERT")
	case RAMLoad:
		a = append(a, "-DMCUBOOT_RAM_LOAD", filepath.Join(bu, "ram_load.c"), filepath.Join(filepath.Dir(glue), "ram.c"))
	case RAMLoadRevert:
		a = append(a, "-DMCUBOOT_RAM_LOAD", "-DMCUBOOT_RAM_LOAD_REVERT", filepath.Join(bu, "ram_load.c"), filepath.Join(filepath.Dir(glue), "ram.c"))
	default:
		return nil, fmt.Errorf("mcubootoracle: strategy %q", cfg.Strategy)
	}
	var m3 string
	if cfg.mbedTLS() {
		var err error
		if m3, err = MbedTLS3(); err != nil {
			return nil, err
		}
		if cfg.KW || cfg.X25519 || !cfg.Encrypted {
			return nil, errors.New("mcubootoracle: RSA and AES256 are built for ECIES-P256 or RSA-OAEP encrypted images only")
		}
		// The whole build on mbedTLS 3 with its default configuration,
		// as the simulator's enc-rsa and enc-aes256-* features.
		a = append(a, "-DMCUBOOT_USE_MBED_TLS", "-I"+filepath.Join(m3, "include"))
		if cfg.AES256 {
			a = append(a, "-DMCUBOOT_AES_256")
		}
		if cfg.RSA {
			// rsa_alt_helpers.h, not installed by mbedTLS (csrc/compat).
			a = append(a, "-I"+filepath.Join(filepath.Dir(glue), "compat"))
		}
	} else {
		// EC256 signatures with TinyCrypt and MCUboot's bundled ASN.1
		// parser, as the simulator's sig-ecdsa feature.
		a = append(a, "-DMCUBOOT_USE_TINYCRYPT", "-DMBEDTLS_CONFIG_FILE=<config-asn1.h>", "-DORACLE_ASN1_ONLY")
	}
	switch {
	case cfg.Encrypted && cfg.RSA:
		a = append(a, "-DMCUBOOT_ENC_IMAGES", "-DMCUBOOT_ENCRYPT_RSA")
	case cfg.Encrypted && cfg.KW:
		a = append(a, "-DMCUBOOT_ENC_IMAGES", "-DMCUBOOT_ENCRYPT_KW", filepath.Join(filepath.Dir(glue), "kwstubs.c"))
	case cfg.KW:
		return nil, errors.New("mcubootoracle: KW without Encrypted")
	case cfg.Encrypted && cfg.X25519:
		a = append(a, "-DMCUBOOT_ENC_IMAGES", "-DMCUBOOT_ENCRYPT_X25519")
	case cfg.Encrypted:
		a = append(a, "-DMCUBOOT_ENC_IMAGES", "-DMCUBOOT_ENCRYPT_EC256")
	case cfg.X25519:
		return nil, errors.New("mcubootoracle: X25519 without Encrypted")
	}
	if cfg.SigMemo {
		a = append(a, "-Wl,--wrap=bootutil_verify_sig", filepath.Join(filepath.Dir(glue), "sigmemo.c"))
	}
	if cfg.KXMemo {
		switch {
		case !cfg.Encrypted || cfg.KW || m3 != "":
			return nil, errors.New("mcubootoracle: KXMemo is for ECIES-P256 or ECIES-X25519 on TinyCrypt only")
		case cfg.X25519:
			a = append(a, "-DORACLE_KX_X25519", "-Wl,--wrap=X25519")
		default:
			a = append(a, "-DORACLE_KX_P256", "-Wl,--wrap=uECC_shared_secret")
		}
		a = append(a, filepath.Join(filepath.Dir(glue), "kxmemo.c"))
	}
	if cfg.FastAES {
		if !cfg.Encrypted || m3 != "" {
			return nil, errors.New("mcubootoracle: FastAES is for encrypted images on TinyCrypt only")
		}
		a = append(a, "-Wl,--wrap=tc_aes_encrypt", filepath.Join(filepath.Dir(glue), "fastaes.c"))
	}
	if cfg.DowngradePrevention {
		// By version, as Rampart (not by security counter).
		a = append(a, "-DMCUBOOT_DOWNGRADE_PREVENTION", "-DMCUBOOT_DOWNGRADE_PREVENTION_SECURITY_COUNTER=0")
	}
	a = append(a,
		"-I"+filepath.Join(src, "boot", "bootutil", "include"),
		"-I"+filepath.Join(src, "sim", "mcuboot-sys", "csupport"),
		"-I"+filepath.Join(tc, "include"),
		"-I"+filepath.Join(src, "ext", "tinycrypt-sha512", "lib", "include"),
	)
	if m3 == "" {
		a = append(a, "-I"+filepath.Join(src, "ext", "mbedtls-asn1", "include"))
	}
	for _, f := range []string{"image_validate.c", "bootutil_find_key.c", "bootutil_img_hash.c",
		"bootutil_img_security_cnt.c", sigSource(cfg), "loader.c", "swap_misc.c", "swap_scratch.c",
		"swap_move.c", "swap_offset.c", "caps.c", "bootutil_misc.c", "bootutil_area.c",
		"bootutil_loader.c", "bootutil_public.c", "tlv.c", "fault_injection_hardening.c"} {
		a = append(a, filepath.Join(bu, f))
	}
	if m3 == "" {
		for _, f := range []string{"utils.c", "sha256.c", "ecc.c", "ecc_dsa.c", "ecc_platform_specific.c"} {
			a = append(a, filepath.Join(tc, "source", f))
		}
	}
	if cfg.Encrypted {
		a = append(a, filepath.Join(bu, "encrypted.c"))
	}
	if cfg.Encrypted && m3 == "" {
		for _, f := range []string{"aes_encrypt.c", "aes_decrypt.c", "ctr_mode.c", "hmac.c", "ecc_dh.c"} {
			a = append(a, filepath.Join(tc, "source", f))
		}
	}
	if cfg.X25519 {
		a = append(a, filepath.Join(src, "ext", "fiat", "src", "curve25519.c"),
			filepath.Join(src, "ext", "tinycrypt-sha512", "lib", "source", "sha512.c"))
	}
	if m3 == "" {
		a = append(a,
			filepath.Join(src, "ext", "mbedtls-asn1", "src", "platform_util.c"),
			filepath.Join(src, "ext", "mbedtls-asn1", "src", "asn1parse.c"))
	}
	a = append(a,
		filepath.Join(src, "sim", "mcuboot-sys", "csupport", "security_cnt.c"),
		glue, // includes csupport/run.c
	)
	if m3 != "" {
		a = append(a, filepath.Join(filepath.Dir(glue), "mbedtls3.c"), filepath.Join(m3, "lib", "libmbedcrypto.a"))
	}
	return a, nil
}

// sigDefines and sigSource choose EC P-256 signatures, Ed25519 with
// X25519, or RSA-2048 with RSA-OAEP.
func sigDefines(cfg Config) []string {
	if cfg.RSA {
		return []string{"-DMCUBOOT_SIGN_RSA", "-DMCUBOOT_SIGN_RSA_LEN=2048"}
	}
	if cfg.X25519 {
		return []string{"-DMCUBOOT_SIGN_ED25519"}
	}
	return []string{"-DMCUBOOT_SIGN_EC256"}
}

func sigSource(cfg Config) string {
	if cfg.RSA {
		return "image_rsa.c"
	}
	if cfg.X25519 {
		return "image_ed25519.c"
	}
	return "image_ecdsa.c"
}

var buildMu sync.Mutex

// Build compiles MCUboot for cfg into a shared library and returns its path.
// Libraries are cached under the user cache directory by a hash of the
// compiler arguments and of every source and header they read, so a second
// build of one configuration costs a hash of the sources.
func Build(cfg Config) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	src, err := Source()
	if err != nil {
		return "", err
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoSource, err)
	}
	glue, err := glueSource()
	if err != nil {
		return "", err
	}
	args, err := cfg.args(src, glue)
	if err != nil {
		return "", err
	}
	key, err := cacheKey(cfg, src, glue, args)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "rampart", "mcubootoracle")
	if err := secfile.MkdirAll(dir); err != nil {
		return "", err
	}
	kw := ""
	if cfg.KW {
		kw = "-kw"
	}
	if cfg.SigMemo {
		kw += "-memo"
	}
	if cfg.RSA {
		kw += "-rsa"
	}
	if cfg.AES256 {
		kw += "-aes256"
	}
	if cfg.KXMemo {
		kw += "-kxmemo"
	}
	if cfg.FastAES {
		kw += "-fastaes"
	}
	out := filepath.Join(dir, fmt.Sprintf("mcuboot-%s-a%d-s%d-i%d-d%v-e%v-x%v%s-%s.so", cfg.Strategy, cfg.MaxAlign, cfg.MaxSectors, cfg.Images, cfg.DowngradePrevention, cfg.Encrypted, cfg.X25519, kw, key))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp, err := os.CreateTemp(dir, "build-*.so")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := compile(gcc, args, tmp.Name()); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// compile builds the library at out from args (defines, include
// directories, linker options and sources): each source is compiled on its
// own, GOMAXPROCS at a time (a first build is otherwise one gcc on one
// core for seconds, while the sweep waits), then linked.
func compile(gcc string, args []string, out string) error {
	var cflags, ldflags, srcs, archives []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-Wl,"):
			ldflags = append(ldflags, a)
		case strings.HasPrefix(a, "-"):
			cflags = append(cflags, a)
		case strings.HasSuffix(a, ".a"):
			archives = append(archives, a) // mbedTLS 3's libmbedcrypto: linked, not compiled
		default:
			srcs = append(srcs, a)
		}
	}
	for _, f := range buildFlags() {
		if f == "-shared" || strings.HasPrefix(f, "-Wl,") {
			ldflags = append(ldflags, f)
		} else {
			cflags = append(cflags, f)
		}
	}
	objDir, err := os.MkdirTemp(filepath.Dir(out), "objs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(objDir)
	objs := make([]string, len(srcs))
	errs := make([]error, len(srcs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, src := range srcs {
		objs[i] = filepath.Join(objDir, fmt.Sprintf("%02d-%s.o", i, strings.TrimSuffix(filepath.Base(src), ".c")))
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(gcc, append(append(slices.Clone(cflags), "-c", "-o", objs[i]), src)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("mcubootoracle: gcc %s: %v\n%s", filepath.Base(src), err, b)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cmd := exec.Command(gcc, append(append(append(ldflags, "-o", out), objs...), archives...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mcubootoracle: link: %v\n%s", err, b)
	}
	return nil
}

// buildFlags are gcc's flags besides the configuration's (hashed into the
// cache key with them). -O2 rather than -O1: TinyCrypt's arithmetic runs
// about 10% faster in the sweep, the code is the same.
func buildFlags() []string {
	return []string{"-shared", "-fPIC", "-O2", "-g", "-std=c99", "-Wall", "-Wl,-Bsymbolic"}
}

// cacheKey names cfg's library in the cache: a hash of the compiler
// arguments and of the contents of every source and header they may read,
// with the trees' locations taken out of both. So a library built from one
// checkout (or one MCUboot tree) serves every other with the same sources,
// wherever it lies and whatever its files' modification times (a clean
// clone, a CI checkout, a worktree).
func cacheKey(cfg Config, src, glue string, args []string) (string, error) {
	h := sha256.New()
	glueDir := filepath.Dir(glue)
	m3, _ := MbedTLS3() // used in args only where cfg needs it
	fmt.Fprintln(h, strings.Join(append(buildFlags(), relocate(args, src, glueDir, m3)...), "\x00"))
	tree, err := treeDigest(src, glue)
	if err != nil {
		return "", err
	}
	h.Write(tree)
	for _, extra := range []struct {
		use  bool
		file string
	}{{cfg.Strategy == RAMLoad || cfg.Strategy == RAMLoadRevert, "ram.c"}, {cfg.KW, "kwstubs.c"}, {cfg.SigMemo, "sigmemo.c"}, {cfg.KXMemo, "kxmemo.c"}, {cfg.FastAES, "fastaes.c"}, {cfg.RSA, "compat/rsa_alt_helpers.h"}, {cfg.mbedTLS(), "mbedtls3.c"}} {
		if !extra.use {
			continue
		}
		// Glue of some configurations only, hashed for them only (the
		// others' cached libraries stay valid).
		if err := hashFile(h, filepath.Join(glueDir, extra.file), extra.file); err != nil {
			return "", err
		}
	}
	if cfg.mbedTLS() {
		// The mbedTLS 3 the library links: its version and archive.
		for _, f := range []string{"include/mbedtls/build_info.h", "lib/libmbedcrypto.a"} {
			if err := hashFile(h, filepath.Join(m3, f), f); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// relocate writes the trees' locations in args as names ($MCUBOOT,
// $GLUE, $MBEDTLS3), so they stay out of the cache key.
func relocate(args []string, src, glueDir, m3 string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for _, r := range []struct{ dir, name string }{{src, "$MCUBOOT"}, {glueDir, "$GLUE"}, {m3, "$MBEDTLS3"}} {
			if r.dir != "" {
				a = strings.ReplaceAll(a, r.dir, r.name)
			}
		}
		out[i] = a
	}
	return out
}

var (
	treeMu      sync.Mutex
	treeDigests = map[string][]byte{}
)

// treeDigest is the hash of the relative names and contents of the C
// sources and headers under MCUboot's tree and of the glue, computed once
// per process for each (tree, glue): about 1.4 MB read, a few
// milliseconds, where a sweep asks for hundreds of libraries.
func treeDigest(src, glue string) ([]byte, error) {
	treeMu.Lock()
	defer treeMu.Unlock()
	k := src + "\x00" + glue
	if d, ok := treeDigests[k]; ok {
		return d, nil
	}
	var files []string
	for _, d := range []string{"boot/bootutil", "ext/tinycrypt/lib", "ext/tinycrypt-sha512/lib", "ext/fiat", "ext/mbedtls-asn1", "sim/mcuboot-sys/csupport"} {
		err := filepath.WalkDir(filepath.Join(src, d), func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(p, ".c") || strings.HasSuffix(p, ".h")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		rel, err := filepath.Rel(src, f)
		if err != nil {
			return nil, err
		}
		if err := hashFile(h, f, filepath.ToSlash(rel)); err != nil {
			return nil, err
		}
	}
	if err := hashFile(h, glue, "$GLUE/"+filepath.Base(glue)); err != nil {
		return nil, err
	}
	d := h.Sum(nil)
	treeDigests[k] = d
	return d, nil
}

// hashFile writes name, the size and the SHA-256 of the file at path to h.
func hashFile(h io.Writer, path, name string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	fmt.Fprintf(h, "%s %d %x\n", name, len(b), sum)
	return nil
}
