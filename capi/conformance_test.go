package capi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rampart/capi"
	"rampart/ipc"
	"rampart/psaclient"
)

// The algorithms psa-arch-tests' CRYPTO suite exercises that Rampart's SPE
// does not implement, each taken out of the copy of the target's
// pal_crypto_config.h (the file a platform declares its algorithms in).
// Every test of the suite still runs; only these vectors are not compiled.
var notImplemented = map[string]string{
	"ARCH_TEST_DES":                 "DES and 3DES: withdrawn ciphers",
	"ARCH_TEST_DES_1KEY":            "DES",
	"ARCH_TEST_DES_2KEY":            "2-key 3DES",
	"ARCH_TEST_DES_3KEY":            "3-key 3DES",
	"ARCH_TEST_MD5":                 "MD5: broken hash",
	"ARCH_TEST_RIPEMD160":           "RIPEMD-160: not offered",
	"ARCH_TEST_ECC_CURVE_SECP192R1": "P-192: under 128-bit security",
	"ARCH_TEST_ECC_CURVE_SECP224R1": "P-224: not offered",
	"ARCH_TEST_ARC4":                "RC4: broken stream cipher",
	"ARCH_TEST_CIPHER_MODE_CFB":     "CFB: not offered (CTR and CBC are)",
	"ARCH_TEST_CFB_AES":             "AES-CFB",
	"ARCH_TEST_TLS12_PRF":           "TLS 1.2 PRF: not offered (HKDF is)",
	"ARCH_TEST_AES_512":             "no such AES key size",
}

// suiteResult is what one psa-arch-tests binary reported.
type suiteResult struct {
	Name                             string
	Total, Passed, Failed, Skipped   int
	FailedTests, SkippedTests, Lines []string
}

var (
	testLine   = regexp.MustCompile(`^TEST: (\d+) \| DESCRIPTION: (.*?)(?: \| UT: (.*))?$`)
	resultLine = regexp.MustCompile(`^TEST RESULT: (PASSED|FAILED|SKIPPED)`)
	totalLine  = regexp.MustCompile(`^TOTAL (TESTS|PASSED|FAILED|SKIPPED)\s*: (\d+)`)
)

func parseSuite(name string, out []byte) suiteResult {
	r := suiteResult{Name: name}
	var cur string
	var lastCheck string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := testLine.FindStringSubmatch(line); m != nil {
			cur = m[1] + " " + strings.TrimSpace(m[3]+" "+m[2])
			lastCheck = ""
			continue
		}
		if strings.HasPrefix(line, "[Check") {
			lastCheck = line
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "FAILED":
				r.FailedTests = append(r.FailedTests, cur+": "+lastCheck)
			case "SKIPPED":
				r.SkippedTests = append(r.SkippedTests, cur)
			}
		}
		if m := totalLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			switch m[1] {
			case "TESTS":
				r.Total = n
			case "PASSED":
				r.Passed = n
			case "FAILED":
				r.Failed = n
			case "SKIPPED":
				r.Skipped = n
			}
		}
	}
	return r
}

// findVendor locates ../shared/vendor (psa-arch-tests and QCBOR) above the
// module: RAMPART_SHARED_VENDOR, or the first shared/vendor in a parent.
func findVendor(t *testing.T, root string) string {
	if v := os.Getenv("RAMPART_SHARED_VENDOR"); v != "" {
		return v
	}
	for d := filepath.Dir(root); d != filepath.Dir(d); d = filepath.Dir(d) {
		v := filepath.Join(d, "shared", "vendor")
		if _, err := os.Stat(filepath.Join(v, "psa-arch-tests", "api-tests", "CMakeLists.txt")); err == nil {
			return v
		}
	}
	t.Skip("psa-arch-tests not found: set RAMPART_SHARED_VENDOR to the folder holding psa-arch-tests and qcbor (../shared/vendor)")
	return ""
}

func needTools(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian: cmake, gcc, make): psa-arch-tests cannot be built", tool)
		}
	}
}

func moduleRoot(t *testing.T) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out, 3000))
	}
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// speProcess is a `rampart spe serve` with a fresh state directory.
type speProcess struct {
	cmd  *exec.Cmd
	sock string
	log  *bytes.Buffer
}

// startSPE starts a fresh SPE; provisioned, it first runs `rampart spe
// provision` on the state directory (an IAK, an implementation ID, the
// secured lifecycle state), as a factory would.
func startSPE(t *testing.T, rampart string, provisioned bool) *speProcess {
	t.Helper()
	dir, err := os.MkdirTemp("", "capi-spe") // socket paths are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o700)
	sock := filepath.Join(dir, "run", "spe.sock")
	if provisioned {
		provision(t, rampart, dir)
	}
	cfg, _ := json.Marshal(map[string]any{
		"socket": sock, "state_dir": filepath.Join(dir, "state"),
		"clients":   []map[string]any{{"name": "psa-arch-tests", "uid": os.Getuid(), "client_id": -1}},
		"isolation": *isolationLevel,
	})
	cfgPath := filepath.Join(dir, "spe.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &speProcess{sock: sock, log: &bytes.Buffer{}}
	p.cmd = exec.Command(rampart, "spe", "serve", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := ipc.Dial(sock)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("spe serve did not accept connections: %v\n%s", err, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// provision runs `rampart spe provision` on dir/state with a manufacturer
// key made for the test.
func provision(t *testing.T, rampart, dir string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	mfr := filepath.Join(dir, "manufacturer.pem")
	if err := os.WriteFile(mfr, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	out, err := exec.Command(rampart, "spe", "provision", "--state-dir", filepath.Join(dir, "state"),
		"--implementation-id", hex.EncodeToString(id), "--manufacturer-key", mfr,
		"--endorsement", filepath.Join(dir, "endorsement.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("spe provision: %v\n%s", err, out)
	}
}

func (p *speProcess) stop() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
}

// disableNotImplemented comments the algorithms Rampart does not offer out
// of a copy of a target's pal_crypto_config.h.
func disableNotImplemented(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "#define" && notImplemented[f[1]] != "" {
			lines[i] = "/* rampart: not implemented: " + notImplemented[f[1]] + " */ // " + l
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

var archTests = flag.Bool("capi.suites", false, "run TestPSAArchTests: build Arm's psa-arch-tests against libpsa-rampart and run four suites")

// isolationLevel is the SPE's isolation level for the suites
// (docs/spe-isolation.md): go test ./capi -run TestPSAArchTests -capi.suites -capi.isolation 3
var isolationLevel = flag.Int("capi.isolation", 1, "the isolation level (1, 2 or 3) of the `rampart spe serve` the suites run against")

// TestPSAArchTests builds Arm's psa-arch-tests (v23.06, from
// ../shared/vendor, never copied into the project) against libpsa-rampart
// and runs the CRYPTO, INTERNAL_TRUSTED_STORAGE, PROTECTED_STORAGE and
// INITIAL_ATTESTATION suites, each against a fresh `rampart spe serve`.
func TestPSAArchTests(t *testing.T) {
	if !*archTests {
		t.Skip("Arm's suites take minutes on 2 cores: run with -capi.suites (.ci/run does: go test ./capi -run TestPSAArchTests -capi.suites -timeout 25m -v)")
	}
	needTools(t, "cmake", "gcc", "make", "go")
	root := moduleRoot(t)
	vendor := findVendor(t, root)
	// 15 minutes, or all that -timeout gives (a loaded machine needs
	// more), less 20 s: fail with the step's name, not go test's panic.
	limit := time.Now().Add(15 * time.Minute)
	if d, ok := t.Deadline(); ok {
		limit = d.Add(-20 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), limit)
	defer cancel()
	work := t.TempDir()
	start := time.Now()
	step := func(what string) {
		t.Logf("%-40s done at %v", what, time.Since(start).Round(time.Second))
	}

	inst := filepath.Join(work, "inst")
	if _, err := capi.Build(ctx, capi.Options{Out: inst, Static: true, ModuleDir: root}); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(inst, "lib", "libpsa-rampart.a")
	inc := filepath.Join(inst, "include")
	rampart := filepath.Join(work, "rampart")
	run(t, ctx, root, nil, "go", "build", "-o", rampart, "./cmd/rampart")
	step("library and rampart built")

	// The suite is built from a copy, so the platform configuration can be
	// Rampart's without touching ../shared.
	tests := filepath.Join(work, "api-tests")
	run(t, ctx, work, nil, "cp", "-r", filepath.Join(vendor, "psa-arch-tests", "api-tests"), tests)
	disableNotImplemented(t, filepath.Join(tests, "platform/targets/tgt_dev_apis_stdc/nspe/pal_crypto_config.h"))

	results := map[string]suiteResult{}
	for _, s := range []struct{ suite, libVar, bin string }{
		{"CRYPTO", "PSA_CRYPTO_LIB_FILENAME", "psa-arch-tests-crypto"},
		{"INTERNAL_TRUSTED_STORAGE", "PSA_STORAGE_LIB_FILENAME", "psa-arch-tests-storage"},
		{"PROTECTED_STORAGE", "PSA_STORAGE_LIB_FILENAME", "psa-arch-tests-storage"},
	} {
		build := filepath.Join(work, "build-"+s.suite)
		os.MkdirAll(build, 0o755)
		run(t, ctx, build, nil, "cmake", tests, "-G", "Unix Makefiles", "-DTOOLCHAIN=HOST_GCC",
			"-DTARGET=tgt_dev_apis_stdc", "-DSUITE="+s.suite, "-DPSA_INCLUDE_PATHS="+inc, "-D"+s.libVar+"="+lib)
		run(t, ctx, build, nil, "make", "-j2")
		step(s.suite + " built")
		results[s.suite] = runAgainstFreshSPE(t, ctx, rampart, s.suite, filepath.Join(build, s.bin), nil)
		r := results[s.suite]
		// Said now too, so a run cut short later still shows it.
		step(fmt.Sprintf("%s run: passed %d failed %d skipped %d", s.suite, r.Passed, r.Failed, r.Skipped))
	}
	results["INITIAL_ATTESTATION"] = attestationSuite(t, ctx, rampart, vendor, tests, work, inc, lib)
	step("INITIAL_ATTESTATION built and run")

	want := map[string][3]int{ // passed, failed, skipped
		"CRYPTO":                   {61, 0, 0},
		"INTERNAL_TRUSTED_STORAGE": {10, 0, 0},
		// s014 checks that create and set_extended are refused where they
		// are not offered: it skips itself when they are, as in Rampart.
		"PROTECTED_STORAGE":   {16, 0, 1},
		"INITIAL_ATTESTATION": {1, 0, 0},
	}
	for _, name := range []string{"CRYPTO", "INTERNAL_TRUSTED_STORAGE", "PROTECTED_STORAGE", "INITIAL_ATTESTATION"} {
		r := results[name]
		t.Logf("%-25s total %2d  passed %2d  failed %d  skipped %d", name, r.Total, r.Passed, r.Failed, r.Skipped)
		for _, f := range r.FailedTests {
			t.Logf("  failed:  %s", f)
		}
		for _, s := range r.SkippedTests {
			t.Logf("  skipped: %s", s)
		}
		if w := want[name]; r.Passed != w[0] || r.Failed != w[1] || r.Skipped != w[2] {
			t.Errorf("%s: passed %d failed %d skipped %d, want %d/%d/%d", name, r.Passed, r.Failed, r.Skipped, w[0], w[1], w[2])
		}
	}
}

// runAgainstFreshSPE runs one suite binary against a new SPE.
func runAgainstFreshSPE(t *testing.T, ctx context.Context, rampart, name, bin string, spe *speProcess) suiteResult {
	t.Helper()
	if spe == nil {
		spe = startSPE(t, rampart, false)
	}
	defer spe.stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // the suite's watchdog does nothing on a host
	defer cancel()
	cmd := exec.CommandContext(cctx, bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), "RAMPART_SPE_SOCKET="+spe.sock)
	out, err := cmd.CombinedOutput()
	r := parseSuite(name, out)
	if r.Total == 0 {
		t.Fatalf("%s: no report (%v)\n%s\nSPE:\n%s", name, err, tail(out, 4000), spe.log)
	}
	return r
}

// attestationSuite builds and runs INITIAL_ATTESTATION: the verification
// key compiled into the suite is the fresh device's IAK public key, written
// into the copy of tgt_dev_apis_linux's pal_attestation_config.h.
func attestationSuite(t *testing.T, ctx context.Context, rampart, vendor, tests, work, inc, lib string) suiteResult {
	spe := startSPE(t, rampart, true)
	conn, err := ipc.Dial(spe.sock)
	if err != nil {
		t.Fatal(err)
	}
	att := psaclient.NewAttestation(conn)
	pub, err := att.PublicKey()
	att.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != 65 || pub[0] != 4 {
		t.Fatalf("IAK public key of %d bytes: the suite's configuration takes a P-256 point", len(pub))
	}
	writeAttestKey(t, filepath.Join(tests, "platform/targets/tgt_dev_apis_linux/nspe/pal_attestation_config.h"), pub)

	build := filepath.Join(work, "build-INITIAL_ATTESTATION")
	os.MkdirAll(build, 0o755)
	run(t, ctx, build, nil, "cmake", tests, "-G", "Unix Makefiles", "-DTOOLCHAIN=HOST_GCC",
		"-DTARGET=tgt_dev_apis_linux", "-DSUITE=INITIAL_ATTESTATION", "-DPSA_INCLUDE_PATHS="+inc,
		"-DPSA_TARGET_QCBOR="+filepath.Join(vendor, "qcbor"), "-DCMAKE_BUILD_TYPE=Debug", "-DCMAKE_C_FLAGS_DEBUG=-Wno-error")
	run(t, ctx, build, nil, "make", "-j2")
	bin := filepath.Join(build, "psa-arch-tests-attestation")
	run(t, ctx, build, nil, "gcc", "-o", bin, filepath.Join(tests, "platform/targets/tgt_dev_apis_linux/nspe/main.c"),
		"val/val_nspe.a", "platform/pal_nspe.a", "dev_apis/initial_attestation/test_combine.a", lib, "-lpthread")
	return runAgainstFreshSPE(t, ctx, rampart, "INITIAL_ATTESTATION", bin, spe)
}

// writeAttestKey replaces the X and Y coordinates of the suite's
// compiled-in attestation key with pub (04 || X || Y).
func writeAttestKey(t *testing.T, path string, pub []byte) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hexList := func(p []byte) string {
		var s []string
		for _, c := range p {
			s = append(s, fmt.Sprintf("0x%02X", c))
		}
		return strings.Join(s, ", ")
	}
	x, y := pub[1:33], pub[33:65]
	src := string(b)
	for _, r := range []struct {
		re   string
		repl string
	}{
		{`(?s)(static const struct ecc_public_key_t attest_public_key = \{.*?\{).*?(\},\s*\};)`, "${1}" + hexList(pub[1:]) + "${2}"},
		{`(?s)(initial_attestation_public_x_key\[\] = \{).*?(\};)`, "${1}" + hexList(x) + "${2}"},
		{`(?s)(initial_attestation_public_y_key\[\] = \{).*?(\};)`, "${1}" + hexList(y) + "${2}"},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(src) {
			t.Fatalf("%s: no match for %s: the suite's attestation configuration changed", path, r.re)
		}
		src = re.ReplaceAllString(src, r.repl)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}
