package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"rampart/image"
	"rampart/image/ihex"
)

const imageVec = "../image/testdata/mcuboot/"

func TestImageKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	types := []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"}
	for _, kt := range types {
		key := filepath.Join(dir, kt+".pem")
		if code, _, errs := run(t, "image", "keygen", "-t", kt, "-k", key); code != 0 {
			t.Fatalf("keygen %s: %d %s", kt, code, errs)
		}
		pub := filepath.Join(dir, kt+".pub.pem")
		code, out, _ := run(t, "image", "getpub", "-k", key, "-e", "pem")
		if code != 0 || !strings.HasPrefix(out, "-----BEGIN PUBLIC KEY-----") {
			t.Fatalf("getpub: %d %q", code, out)
		}
		os.WriteFile(pub, []byte(out), 0o600)
		img := filepath.Join(dir, kt+".bin")
		code, _, errs := run(t, "image", "sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1.2.3+4", "-S", "0x20000",
			"-s", "auto", "--custom-tlv", "0xa0", "0x0102", "--confirm", imageVec+"input.bin", img)
		if code != 0 {
			t.Fatalf("sign %s: %d %s", kt, code, errs)
		}
		code, out, errs = run(t, "image", "verify", "-k", pub, "--json", img)
		var res imageVerifyResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Valid || !res.Signed || res.SecurityCounter == nil || *res.SecurityCounter != 0x01020003 {
			t.Fatalf("verify %s: %d %s %s", kt, code, out, errs)
		}
		// the wrong key: exit 1, the error names the TLV area
		other := imageVec + "ed25519.pem"
		if kt == "ed25519" {
			other = imageVec + "ecdsa-p256.pem"
		}
		code, _, errs = run(t, "image", "verify", "-k", other, img)
		if code != ExitFailure || !strings.Contains(errs, "no signature by any of the given keys") {
			t.Fatalf("verify with the wrong key: %d %s", code, errs)
		}
	}
}

func TestImagePasswordKeys(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "pw.pem")
	withPW := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Getenv: func(k string) string {
				if k == imageKeyPasswordEnv {
					return "s3cret"
				}
				return ""
			}}
		return Main(args, env), out.String(), errb.String()
	}
	if code, _, errs := run(t, "image", "keygen", "-t", "ed25519", "-k", key, "-p"); code != ExitUsage {
		t.Fatalf("keygen -p without a password: %d %s", code, errs)
	}
	if code, _, errs := withPW("image", "keygen", "-t", "ed25519", "-k", key, "-p"); code != 0 {
		t.Fatal(errs)
	}
	img := filepath.Join(dir, "i.bin")
	if code, _, errs := run(t, "image", "sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", imageVec+"input.bin", img); code != ExitError || !strings.Contains(errs, imageKeyPasswordEnv) {
		t.Fatalf("sign with a protected key and no password: %d %s", code, errs)
	}
	if code, _, errs := withPW("image", "sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", imageVec+"input.bin", img); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := withPW("image", "verify", "-k", key, img); code != 0 {
		t.Fatal(errs)
	}
}

func TestImageGetpubFormats(t *testing.T) {
	for _, k := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"} {
		want, _ := os.ReadFile(imageVec + k + ".pub.c")
		code, out, _ := run(t, "image", "getpub", "-k", imageVec+k+".pem")
		if code != 0 {
			t.Fatal(code)
		}
		_, wantBody, _ := strings.Cut(string(want), "\n")
		_, gotBody, _ := strings.Cut(out, "\n")
		if gotBody != wantBody {
			t.Errorf("%s lang-c:\n%s\nwant\n%s", k, gotBody, wantBody)
		}
		for enc, file := range map[string]string{"raw": ".pub.der", "pem": ".pub.pem"} {
			want, _ := os.ReadFile(imageVec + k + file)
			if _, out, _ := run(t, "image", "getpub", "-k", imageVec+k+".pem", "-e", enc); out != string(want) {
				t.Errorf("%s -e %s differs", k, enc)
			}
		}
		want, _ = os.ReadFile(imageVec + k + ".pubhash.bin")
		if _, out, _ := run(t, "image", "getpubhash", "-k", imageVec+k+".pem", "-e", "raw"); out != string(want) {
			t.Errorf("%s getpubhash differs", k)
		}
	}
	_, out, _ := run(t, "image", "getpub", "-k", imageVec+"ed25519.pem", "-e", "lang-rust", "--name-suffix", "_2")
	if !strings.Contains(out, "static ED25519_PUB_KEY_2: &[u8] = &[\n    0x30, 0x2a,") {
		t.Errorf("lang-rust: %q", out)
	}
	code, out, _ := run(t, "image", "getpriv", "-k", imageVec+"enc/enc-ec256-priv.pem", "--minimal")
	if code != 0 || !strings.Contains(out, "const unsigned int enc_priv_key_len = ") {
		t.Errorf("getpriv: %d %q", code, out)
	}
	if code, out, _ := run(t, "image", "keyinfo", "-k", imageVec+"ed25519.pub.pem"); code != 0 || out != "public\n" {
		t.Errorf("keyinfo public: %d %q", code, out)
	}
	if code, out, _ := run(t, "image", "keyinfo", "-k", imageVec+"enc/enc-x25519-priv.pem", "--require", "public"); code != ExitFailure || out != "private\n" {
		t.Errorf("keyinfo --require: %d %q", code, out)
	}
	if code, _, _ := run(t, "image", "getpriv", "-k", imageVec+"ed25519.pem"); code != ExitUsage {
		t.Errorf("getpriv ed25519: exit %d", code)
	}
}

func TestImageSignReproducesVectorAndHex(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.bin")
	// an existing, longer output file is replaced exactly
	os.WriteFile(out, bytes.Repeat([]byte{0x5a}, 0x30000), 0o644)
	code, _, errs := run(t, "image", "sign", "-k", imageVec+"ed25519.pem", "--header-size", "0x200", "--pad-header",
		"--version", "1.2.3+4", "--slot-size", "0x20000", "--pad", "--align", "4", "--max-align", "16", imageVec+"input.bin", out)
	if code != 0 {
		t.Fatal(errs)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile(imageVec + "ed25519.pad.maxalign16.bin")
	if !bytes.Equal(got, want) {
		t.Fatal("differs from imgtool's ed25519.pad.maxalign16.bin")
	}
	// a failing run (slot too small) leaves the existing output as it was
	if code, _, _ := run(t, "image", "sign", "-k", imageVec+"ed25519.pem", "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x10000", imageVec+"input.bin", out); code == 0 {
		t.Fatal("oversized image accepted")
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, want) {
		t.Fatal("a failed sign changed the existing output")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".p.bin.*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	// Intel HEX out, at an address, then back in: same image.
	hexOut := filepath.Join(dir, "p.hex")
	if code, _, errs := run(t, "image", "sign", "-k", imageVec+"ed25519.pem", "-H", "0x200", "--pad-header", "-v", "1.2.3+4",
		"-S", "0x20000", "-x", "0x08020000", imageVec+"input.bin", hexOut); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := run(t, "image", "verify", "-k", imageVec+"ed25519.pem", hexOut); code != 0 {
		t.Fatal(errs)
	}
	code, js, _ := run(t, "image", "dump", "--json", hexOut)
	var d map[string]any
	if code != 0 || json.Unmarshal([]byte(js), &d) != nil {
		t.Fatalf("dump --json: %d %s", code, js)
	}
	if hdr := d["header"].(map[string]any); hdr["version"] != "1.2.3+4" || hdr["hdr_size"] != float64(512) {
		t.Fatalf("dump header %v", hdr)
	}
	// hex output without an address is a usage error
	if code, _, _ := run(t, "image", "sign", "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", imageVec+"input.bin", hexOut); code != ExitUsage {
		t.Fatalf("hex without address: exit %d", code)
	}
	if code, out, _ := run(t, "image", "sign", "--help"); code != 0 || !strings.Contains(out, "--custom-tlv") || !strings.Contains(out, "Example") {
		t.Fatalf("sign --help: %d", code)
	}
}

func TestImageVerifyKeyHash(t *testing.T) {
	kh, _ := os.ReadFile(imageVec + "ecdsa-p256.pubhash.bin")
	code, out, errs := run(t, "image", "verify", "--key-hash", fmt.Sprintf("%x", kh), imageVec+"ecdsa-p256.fullkey.bin")
	if code != 0 || !strings.Contains(out, "embedded key with hash") {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	if code, _, _ := run(t, "image", "verify", "--key-hash", fmt.Sprintf("%x", kh), imageVec+"ecdsa-p256.signed.bin"); code != ExitFailure {
		t.Fatalf("KEYHASH image with only a key hash: exit %d", code)
	}
	if code, _, _ := run(t, "image", "verify", "--key-hash", "abc", imageVec+"ecdsa-p256.signed.bin"); code != ExitUsage {
		t.Fatalf("bad --key-hash: exit %d", code)
	}
}

func TestImageBadInputExitCodes(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(imageVec + "ed25519.signed.bin")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	flip := func(off int) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= 0xff
		return b
	}
	key := imageVec + "ed25519.pem"
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"truncated", []string{"verify", "-k", key, write("t.bin", good[:1000])}, ExitFailure, "ih_img_size"},
		{"wrong magic", []string{"verify", "-k", key, write("m.bin", flip(1))}, ExitFailure, "ih_magic"},
		{"hash mismatch", []string{"verify", "-k", key, write("h.bin", flip(0x300))}, ExitFailure, "hash mismatch"},
		{"oversized for the slot", []string{"verify", "-S", "0x1000", "-k", key, imageVec + "ed25519.signed.bin"}, ExitFailure, "slot"},
		{"missing key file", []string{"verify", "-k", filepath.Join(dir, "nope.pem"), imageVec + "ed25519.signed.bin"}, ExitError, "nope.pem"},
		{"unreadable key", []string{"verify", "-k", write("bad.pem", []byte("junk")), imageVec + "ed25519.signed.bin"}, ExitError, "PEM"},
		{"encrypted without key", []string{"verify", "-k", imageVec + "ecdsa-p256.pem", imageVec + "enc/ecdsa-p256.enc-ec256.bin"}, ExitFailure, "encrypted"},
		{"bad version", []string{"sign", "-H", "0x200", "--pad-header", "-v", "1.x", "-S", "0x20000", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "version"},
		{"header below 32", []string{"sign", "-H", "16", "--pad-header", "-v", "1", "-S", "0x20000", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "hint: check -H/--header-size"},
		{"erased value", []string{"sign", "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", "-R", "5", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "hint: check -R/--erased-val"},
		{"explicit zero align", []string{"sign", "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", "--align", "0", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "--align 0"},
		{"bad option before reading input", []string{"sign", "-H", "0x200", "-v", "1", "-S", "0x20000", "--max-align", "4", filepath.Join(dir, "missing.bin"), filepath.Join(dir, "o.bin")}, ExitUsage, "max-align"},
		{"larger than slot", []string{"sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x10000", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "slot-size"},
		{"unsupported sha", []string{"sign", "-k", key, "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", "--sha", "384", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitUsage, "sha"},
		{"custom tlv missing value", []string{"sign", "-H", "0x200", "-v", "1", "-S", "0x20000", "--custom-tlv", "0xa0"}, ExitUsage, "custom-tlv"},
		{"public key cannot sign", []string{"sign", "-k", imageVec + "ed25519.pub.pem", "-H", "0x200", "--pad-header", "-v", "1", "-S", "0x20000", imageVec + "input.bin", filepath.Join(dir, "o.bin")}, ExitError, "public-only"},
	}
	for _, c := range cases {
		code, _, errs := run(t, append([]string{"image"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want it to mention %q)", c.name, code, c.code, errs, c.msg)
		}
	}
}

// TestImageSameBytesAsImgtool runs imgtool sign and rampart image sign with
// the same command lines (Ed25519, so both are deterministic) and compares
// the outputs byte for byte, Intel HEX included. Needs RAMPART_IMGTOOL.
func TestImageSameBytesAsImgtool(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	dir := t.TempDir()
	in := imageVec + "input.bin"
	// a hex input at 0x08000000 made by rampart's own writer from input.bin
	hexIn := filepath.Join(dir, "in.hex")
	raw, _ := os.ReadFile(in)
	os.WriteFile(hexIn, imageHexFor(raw, 0x08000000), 0o600)
	common := []string{"-k", imageVec + "ed25519.pem", "-H", "0x200", "--pad-header", "-v", "1.2.3+4", "-S", "0x20000"}
	for i, extra := range [][]string{
		{"--vid", "example.com", "--cid", "my-board-app"},
		{"--vid", "12345678-1234-5678-1234-567812345678", "--cid", "00112233445566778899aabbccddeeff"},
		{"-L", "0x20000000", "--non-bootable"},
		{"-F", "0x08020000", "-R", "0", "--pad", "--align", "8"},
		{"--test", "--max-align", "32", "-M", "64"},
		{"--overwrite-only", "--confirm", "-s", "0x10203"},
		{"-d", "(0,1.0.0+0), (2,3.4.5+6)", "--boot-record", "BL2", "--custom-tlv", "0x1000", "text", "--sha", "512"},
		{"--public-key-format", "full", "--pure"},
		{"out.hex", "-x", "0x08020000", "--confirm"},
		{"--vector-to-sign", "payload", "-s", "5", "--boot-record", "X"},
		{"--vector-to-sign", "digest", "--sha", "512"},
		{"in.hex", "out.hex", "--pad"},
	} {
		name := fmt.Sprintf("case%d", i)
		args := append([]string(nil), common...)
		input, output := in, "out.bin"
		for _, a := range extra {
			switch a {
			case "out.hex":
				output = a
			case "in.hex":
				input = hexIn
			default:
				args = append(args, a)
			}
		}
		theirs := filepath.Join(dir, name+".imgtool."+output)
		mine := filepath.Join(dir, name+".rampart."+output)
		if out, err := exec.Command(py, append(append([]string{tool, "sign"}, args...), input, theirs)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: imgtool: %v\n%s", extra, err, out)
		}
		if code, _, errs := run(t, append(append([]string{"image", "sign"}, args...), input, mine)...); code != 0 {
			t.Fatalf("%v: rampart: %s", extra, errs)
		}
		a, _ := os.ReadFile(theirs)
		b, _ := os.ReadFile(mine)
		if !bytes.Equal(a, b) {
			t.Errorf("%v: outputs differ (%d vs %d bytes)", extra, len(a), len(b))
		}
	}
}

// TestImageFixSig signs externally: --vector-to-sign digest, an Ed25519
// signature made here, then --fix-sig; the result equals the directly
// signed vector, and imgtool (when RAMPART_IMGTOOL is set) agrees.
func TestImageFixSig(t *testing.T) {
	dir := t.TempDir()
	common := []string{"-H", "0x200", "--pad-header", "-v", "1.2.3+4", "-S", "0x20000"}
	digest := filepath.Join(dir, "digest")
	pub := imageVec + "ed25519.pub.pem"
	if code, _, errs := run(t, append(append([]string{"image", "sign", "--fix-sig-pubkey", pub, "--vector-to-sign", "digest"}, common...), imageVec+"input.bin", digest)...); code != 0 {
		t.Fatal(errs)
	}
	d, _ := os.ReadFile(digest)
	kb, _ := os.ReadFile(imageVec + "ed25519.pem")
	k, err := image.ParseKeyPEM(kb)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "sig.b64")
	os.WriteFile(sigFile, []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(k.(ed25519.PrivateKey), d))), 0o600)
	out := filepath.Join(dir, "fixed.bin")
	args := append(append([]string{"sign", "--fix-sig", sigFile, "--fix-sig-pubkey", pub}, common...), imageVec+"input.bin")
	if code, _, errs := run(t, append(append([]string{"image"}, args...), out)...); code != 0 {
		t.Fatal(errs)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile(imageVec + "ed25519.signed.bin")
	if !bytes.Equal(got, want) {
		t.Fatal("externally signed image differs from the vector")
	}
	os.WriteFile(sigFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 64))), 0o600)
	if code, _, errs := run(t, append(append([]string{"image"}, args...), out)...); code != ExitUsage || !strings.Contains(errs, "fix-sig") {
		t.Fatalf("bad fixed signature: %d %s", code, errs)
	}
}

// TestImageGetprivSameAsImgtool compares getpriv's arrays with imgtool's
// for the encryption keys it supports. Needs RAMPART_IMGTOOL.
func TestImageGetprivSameAsImgtool(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set: skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	for _, c := range [][]string{
		{"enc/enc-ec256-priv.pem"}, {"enc/enc-ec256-priv.pem", "--minimal"}, {"enc/enc-ec256-priv.pem", "-f", "openssl"},
		{"enc/enc-ec256-priv.pem", "--minimal", "-f", "openssl"}, {"enc/enc-rsa2048-priv.pem"},
		{"enc/enc-rsa2048-priv.pem", "--minimal"}, {"enc/enc-x25519-priv.pem"}, {"ecdsa-p384.pem"},
	} {
		args := append([]string{"getpriv", "-k", imageVec + c[0]}, c[1:]...)
		want, err := exec.Command(py, append([]string{tool}, args...)...).Output()
		if err != nil {
			t.Fatalf("%v: imgtool: %v", c, err)
		}
		code, got, errs := run(t, append([]string{"image"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: %s", c, errs)
		}
		_, w, _ := strings.Cut(string(want), "\n")
		_, g, _ := strings.Cut(got, "\n")
		if w != g {
			t.Errorf("%v: arrays differ", c)
		}
	}
}

// imageHexFor writes data at base as Intel HEX with rampart's writer.
func imageHexFor(data []byte, base uint32) []byte {
	m := &ihex.Memory{}
	m.Put(base, data)
	return m.Marshal()
}

// TestImageDumpMatchesDumpinfo compares rampart image dump (human and
// --yaml) with imgtool dumpinfo's stored output for every vector.
func TestImageDumpMatchesDumpinfo(t *testing.T) {
	files, _ := filepath.Glob(imageVec + "*.dumpinfo.txt")
	if len(files) < 15 {
		t.Fatalf("only %d dumpinfo files", len(files))
	}
	for _, txt := range files {
		img := strings.TrimSuffix(txt, ".dumpinfo.txt") + ".bin"
		want, _ := os.ReadFile(txt)
		code, got, errs := run(t, "image", "dump", img)
		if code != 0 || got != string(want) {
			t.Errorf("%s: human dump differs (exit %d %s)", filepath.Base(img), code, errs)
		}
		want, _ = os.ReadFile(strings.TrimSuffix(txt, ".txt") + ".yaml")
		if _, got, _ := run(t, "image", "dump", "--yaml", img); got != string(want) {
			t.Errorf("%s: --yaml dump differs", filepath.Base(img))
		}
	}
}

// TestImageSignIntoDirectory: an output path that is a directory is named
// in the error as the user gave it, never as a temporary file of ours.
func TestImageSignIntoDirectory(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run(t, "image", "sign", "-k", "../image/testdata/mcuboot/ed25519.pem", "-H", "0x200", "--pad-header", "-v", "1.0.0", "-S", "0x20000",
		"../image/testdata/mcuboot/input.bin", dir)
	if code != ExitUsage || !strings.Contains(errs, "writing "+dir+": is a directory") || strings.Contains(errs, "/.") {
		t.Fatalf("sign into a directory: %d %q", code, errs)
	}
}

// TestOutputFlagSpelling: every command that takes -o spells it --out
// (imgtool's own spellings are accepted beside it where they exist).
func TestOutputFlagSpelling(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f := c.Flags().ShorthandLookup("o"); f != nil && f.Name != "out" {
			t.Errorf("%s: -o is --%s, want --out", c.CommandPath(), f.Name)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(Root(StdEnv()))
	for _, args := range [][]string{{"image", "getpub", "-k", "../image/testdata/mcuboot/ed25519.pem", "--output"}, {"image", "getpub", "-k", "../image/testdata/mcuboot/ed25519.pem", "--out"}} {
		p := filepath.Join(t.TempDir(), "pub.c")
		if code, _, errs := run(t, append(args, p)...); code != ExitOK {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
}

// TestImageSignExamplesHaveCounter: Rampart's bootloader refuses an image
// without a security counter, so every signing example in the help gives -s
// (issue 16: following them gave "image has no security counter").
func TestImageSignExamplesHaveCounter(t *testing.T) {
	n := 0
	for _, args := range [][]string{{"image", "--help"}, {"image", "sign", "--help"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "rampart image sign -") {
				n++
				if !strings.Contains(l, " -s ") {
					t.Errorf("%v: example without -s: %s", args, strings.TrimSpace(l))
				}
			}
		}
	}
	if n < 3 {
		t.Fatalf("found %d signing examples, want the help's", n)
	}
}
