package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodesForInputs holds every command that reads a file to the
// README's contract, for each input it reads: a missing file and one that
// cannot be read (a directory stands in for it, as the tests may run as
// root, which reads any mode) exit 3, and so does a key or certificate file
// that holds no key or certificate (it cannot be read as one); a document
// that was read and is not valid (a configuration, a map, a model, an image,
// a token) exits 1: the answer is "no". None is a usage error (2).
func TestExitCodesForInputs(t *testing.T) {
	dir := t.TempDir()
	M := "../image/testdata/mcuboot"
	P := "../attest/testdata"
	key := M + "/ed25519.pem"
	mapFile := filepath.Join(dir, "map.yaml")
	mustWrite(t, mapFile, []byte(bootTestMap))
	fw := filepath.Join(dir, "fw.bin")
	mustWrite(t, fw, make([]byte, 1000))
	nonce := strings.Repeat("01", 32)
	list := filepath.Join(dir, "list.json")
	mustWrite(t, list, []byte(`{"format":"rampart-endorsements/1","endorsements":[]}`))
	bootDev := filepath.Join(dir, "bootdev")
	if code, _, errs := run(t, "boot", "create", "--map", mapFile, "--key", key, bootDev); code != ExitOK {
		t.Fatalf("boot create: %d %s", code, errs)
	}
	sign := []string{"image", "sign", "--header-size", "0x200", "--pad-header", "--version", "1.0.0", "--slot-size", "0x20000"}
	cases := []struct {
		name string
		args func(x string) []string
		// noMalformed: any bytes are a valid input (firmware), or checking
		// them needs a server.
		noMalformed bool
		// key: the input is a key or certificate (malformed exits 3).
		key bool
	}{
		{"image verify KEY", func(x string) []string { return []string{"image", "verify", "-k", x, M + "/ed25519.signed.bin"} }, false, true},
		{"image verify IMAGE", func(x string) []string { return []string{"image", "verify", "-k", key, x} }, false, false},
		{"image dump", func(x string) []string { return []string{"image", "dump", x} }, false, false},
		{"image sign KEY", func(x string) []string { return append(sign, "-k", x, fw, filepath.Join(dir, "o.bin")) }, false, true},
		{"image sign INPUT", func(x string) []string { return append(sign, "-k", key, x, filepath.Join(dir, "o.bin")) }, true, false},
		{"image getpub", func(x string) []string { return []string{"image", "getpub", "-k", x} }, false, true},
		{"boot create --map", func(x string) []string {
			return []string{"boot", "create", "--map", x, "--key", key, filepath.Join(dir, "dev-"+filepath.Base(x))}
		}, false, false},
		{"boot create --key", func(x string) []string {
			return []string{"boot", "create", "--map", mapFile, "--key", x, filepath.Join(dir, "dev-k-"+filepath.Base(x))}
		}, false, true},
		{"boot install IMAGE", func(x string) []string { return []string{"boot", "install", bootDev, x} }, true, false},
		{"spe provision --manufacturer-key", func(x string) []string {
			return []string{"spe", "provision", "--state-dir", filepath.Join(dir, "spe-"+filepath.Base(x)), "--implementation-id", strings.Repeat("00", 32),
				"--manufacturer-key", x, "--endorsement", filepath.Join(dir, "e.json")}
		}, false, true},
		{"zone import --rzone", func(x string) []string { return []string{"zone", "import", "--rzone", x, "--azone", x} }, false, false},
		{"server --config", func(x string) []string { return []string{"server", "--config", x} }, false, false},
		{"server --check-config", func(x string) []string { return []string{"server", "--config", x, "--check-config", "--offline"} }, false, false},
		{"spe serve --config", func(x string) []string { return []string{"spe", "serve", "--config", x, "--check-config"} }, false, false},
		{"campaign create --spec", func(x string) []string {
			return []string{"campaign", "create", "--server", "127.0.0.1:1", "--spec", x}
		}, false, false},
		{"threat check", func(x string) []string { return []string{"threat", "check", x} }, false, false},
		{"threat report", func(x string) []string { return []string{"threat", "report", x} }, false, false},
		{"zone check", func(x string) []string { return []string{"zone", "check", x} }, false, false},
		{"zone generate", func(x string) []string { return []string{"zone", "generate", x, "--out", filepath.Join(dir, "zout")} }, false, false},
		{"attest verify --key", func(x string) []string {
			return []string{"attest", "verify", "--key", x, "--nonce", nonce, P + "/rfc-sign1.cbor"}
		}, false, true},
		{"attest verify TOKEN", func(x string) []string {
			return []string{"attest", "verify", "--key", P + "/rfc-es-iak.pub.pem", "--nonce", nonce, x}
		}, false, false},
		{"certify --project", func(x string) []string { return []string{"certify", "--project", x} }, false, false},
		{"fleet endorsements sign --key", func(x string) []string {
			return []string{"fleet", "endorsements", "sign", "--key", x, "--out", filepath.Join(dir, "o.cose"), list}
		}, false, true},
		{"fleet releases register", func(x string) []string {
			return []string{"fleet", "--server", "127.0.0.1:1", "releases", "register", x}
		}, true, false},
		{"fleet endorsements import", func(x string) []string {
			return []string{"fleet", "--server", "127.0.0.1:1", "endorsements", "import", x}
		}, true, false},
		{"agent --ca", func(x string) []string {
			return []string{"agent", "--ca", x, "--enroll-url", "https://127.0.0.1:1", "--mqtt", "127.0.0.1:1"}
		}, false, true},
	}
	malformed := filepath.Join(dir, "malformed")
	mustWrite(t, malformed, []byte("stratgy: [\n"))
	unreadable := filepath.Join(dir, "unreadable")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		inputs := []struct {
			kind, path string
			want       int
		}{
			{"missing", filepath.Join(dir, "missing"), ExitError},
			{"unreadable", unreadable, ExitError},
			{"malformed", malformed, ExitFailure},
		}
		if c.key {
			inputs[2].want = ExitError
		}
		for _, in := range inputs {
			if in.kind == "malformed" && c.noMalformed {
				continue
			}
			t.Run(c.name+"/"+in.kind, func(t *testing.T) {
				args := c.args(in.path)
				code, _, errs := run(t, args...)
				if code != in.want {
					t.Errorf("rampart %s: exit %d, want %d\n%s", strings.Join(args, " "), code, in.want, errs)
				}
			})
		}
	}
}
