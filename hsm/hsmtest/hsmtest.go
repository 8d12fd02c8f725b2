// Package hsmtest starts SoftHSM2 for tests: one token directory and
// configuration per test process, a fresh token per test, keys made with
// the tools a user would use (softhsm2-util, OpenSC's pkcs11-tool), and
// the pkcs11: URI naming them. Tests skip clearly when the tools are absent.
//
// It must never be linked into a product binary (the import rules forbid
// it outside test files): it writes PINs to temporary files.
package hsmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"rampart/internal/secfile"
)

// PIN is the user PIN of every test token; SOPIN its security officer's.
const (
	PIN   = "1234"
	SOPIN = "5678"
)

// Modules where Debian and others install SoftHSM2's library.
var modulePaths = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"}

var setup struct {
	once   sync.Once
	dir    string
	module string
	err    error
	n      int
	mu     sync.Mutex
}

// Token is one initialized SoftHSM2 token.
type Token struct {
	Label   string
	Module  string // the PKCS#11 library
	PINFile string // 0600 file holding PIN
	dir     string
}

// Start returns a new token, skipping the test when SoftHSM2 or
// pkcs11-tool is not installed (Debian: softhsm2 opensc).
func Start(t testing.TB) *Token {
	t.Helper()
	setup.once.Do(initSoftHSM)
	if setup.err != nil {
		t.Skipf("SoftHSM2 not usable (%v): install the Debian packages softhsm2 and opensc", setup.err)
	}
	setup.mu.Lock()
	setup.n++
	label := fmt.Sprintf("rampart-test-%d-%d", os.Getpid(), setup.n)
	setup.mu.Unlock()
	run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN)
	pin := filepath.Join(t.TempDir(), "pin")
	if err := secfile.WriteFile(pin, []byte(PIN+"\n")); err != nil {
		t.Fatal(err)
	}
	return &Token{Label: label, Module: setup.module, PINFile: pin, dir: setup.dir}
}

// initSoftHSM makes the process's SoftHSM2 configuration and token
// directory: SoftHSM2 reads SOFTHSM2_CONF once, when the module is
// initialized, so every test of the process shares them.
func initSoftHSM() {
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			setup.err = err
			return
		}
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			setup.module = p
			break
		}
	}
	if setup.module == "" {
		setup.err = fmt.Errorf("libsofthsm2.so not found in %s", strings.Join(modulePaths, ", "))
		return
	}
	dir, err := os.MkdirTemp("", "rampart-softhsm-")
	if err != nil {
		setup.err = err
		return
	}
	tokens := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := secfile.MkdirAll(tokens); err != nil {
		setup.err = err
		return
	}
	c := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := secfile.WriteFile(conf, []byte(c)); err != nil {
		setup.err = err
		return
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	setup.dir = dir
}

// Cleanup removes the token directory; call it from TestMain after m.Run.
func Cleanup() {
	if setup.dir != "" {
		os.RemoveAll(setup.dir)
	}
}

// URI names the key with label in this token, with the module and the PIN file.
func (tk *Token) URI(label string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s;type=private?module-path=%s&pin-source=file:%s", tk.Label, label, tk.Module, tk.PINFile)
}

// Generate makes a key pair in the token with pkcs11-tool; keyType is
// pkcs11-tool's: EC:prime256v1, EC:secp384r1, EC:edwards25519, rsa:2048.
func (tk *Token) Generate(t testing.TB, keyType, label, id string) {
	t.Helper()
	run(t, "pkcs11-tool", "--module", tk.Module, "--token-label", tk.Label, "--login", "--pin", PIN,
		"--keypairgen", "--key-type", keyType, "--label", label, "--id", id)
}

// Import copies a PKCS#8 PEM private key file into the token with softhsm2-util.
func (tk *Token) Import(t testing.TB, pemFile, label, id string) {
	t.Helper()
	run(t, "softhsm2-util", "--import", pemFile, "--token", tk.Label, "--label", label, "--id", id, "--pin", PIN)
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.Bytes()
}
