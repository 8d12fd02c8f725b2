package image

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// afterFirstLine drops the generated-by comment, the one line in which
// Rampart's C and Rust output differs from imgtool's.
func afterFirstLine(b []byte) []byte {
	_, rest, _ := bytes.Cut(b, []byte("\n"))
	return rest
}

// TestEncodePublicKeyVectors compares getpub and getpubhash output with
// imgtool's stored for each signing key.
func TestEncodePublicKeyVectors(t *testing.T) {
	for _, name := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"} {
		k := keyVec(t, name+".pem")
		for e, file := range map[KeyEncoding]string{EncodingLangC: ".pub.c", EncodingRaw: ".pub.der", EncodingPEM: ".pub.pem"} {
			got, err := EncodePublicKey(k, e, "")
			if err != nil {
				t.Fatal(err)
			}
			want := readVec(t, name+file)
			if e == EncodingLangC {
				got, want = afterFirstLine(got), afterFirstLine(want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s -e %s:\n%s\nwant\n%s", name, e, got, want)
			}
		}
		if got, err := EncodePublicKeyHash(k, EncodingRaw, ""); err != nil || !bytes.Equal(got, readVec(t, name+".pubhash.bin")) {
			t.Errorf("%s getpubhash -e raw: %x %v", name, got, err)
		}
	}
	got, _ := EncodePublicKey(keyVec(t, "ed25519.pem"), EncodingLangRust, "_2")
	if !bytes.Contains(got, []byte("static ED25519_PUB_KEY_2: &[u8] = &[\n    0x30, 0x2a,")) {
		t.Errorf("lang-rust: %s", got)
	}
}

func TestEncodeKeysRefuses(t *testing.T) {
	ed := keyVec(t, "ed25519.pem")
	for name, err := range map[string]error{
		"suffix characters":    func() error { _, err := EncodePublicKey(ed, EncodingLangC, "a-b"); return err }(),
		"suffix with pem":      func() error { _, err := EncodePublicKey(ed, EncodingPEM, "x"); return err }(),
		"suffix with raw hash": func() error { _, err := EncodePublicKeyHash(ed, EncodingRaw, "x"); return err }(),
		"unknown encoding":     func() error { _, err := EncodePublicKey(ed, "der", ""); return err }(),
		"pem hash":             func() error { _, err := EncodePublicKeyHash(ed, EncodingPEM, ""); return err }(),
		"ed25519 getpriv":      func() error { _, err := EncodePrivateKey(ed, "", false); return err }(),
		"x25519 as openssl": func() error {
			_, err := EncodePrivateKey(keyVec(t, "enc/enc-x25519-priv.pem"), PrivateKeyOpenSSL, false)
			return err
		}(),
		"rsa as pkcs8": func() error {
			_, err := EncodePrivateKey(keyVec(t, "enc/enc-rsa2048-priv.pem"), PrivateKeyPKCS8, false)
			return err
		}(),
	} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := EncodePrivateKey(keyVec(t, "ed25519.pub.pem"), "", false); !errors.Is(err, ErrNotPrivateKey) {
		t.Errorf("public key to getpriv: %v", err)
	}
}

// TestKeyEncodingsSameAsImgtool runs imgtool getpub and getpubhash for
// what the stored vectors do not hold (Rust slices, name suffixes, hashes
// as C, X25519 keys) and compares with the encoders' output; getpriv is
// compared by the CLI's TestImageGetprivSameAsImgtool. Needs
// RAMPART_IMGTOOL (docs/imgtool-interop.md).
func TestKeyEncodingsSameAsImgtool(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	for _, name := range []string{"ecdsa-p256.pem", "ecdsa-p384.pem", "ed25519.pub.pem", "rsa-2048.pem", "enc/enc-x25519-priv.pem"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(vecDir, name)
			k := keyVec(t, name)
			cases := []struct {
				args []string
				enc  func() ([]byte, error)
			}{
				{[]string{"getpub", "-e", "lang-rust", "--name-suffix", "_2"}, func() ([]byte, error) { return EncodePublicKey(k, EncodingLangRust, "_2") }},
				{[]string{"getpub", "--name-suffix", "_2"}, func() ([]byte, error) { return EncodePublicKey(k, EncodingLangC, "_2") }},
				{[]string{"getpubhash", "--name-suffix", "_x"}, func() ([]byte, error) { return EncodePublicKeyHash(k, EncodingLangC, "_x") }},
			}
			if strings.HasPrefix(name, "enc/") {
				cases = append(cases, struct {
					args []string
					enc  func() ([]byte, error)
				}{[]string{"getpub", "-e", "pem"}, func() ([]byte, error) { return EncodePublicKey(k, EncodingPEM, "") }})
			}
			for _, c := range cases {
				want, err := exec.Command(py, append([]string{tool, c.args[0], "-k", path}, c.args[1:]...)...).Output()
				if err != nil {
					t.Fatalf("imgtool %v: %v", c.args, err)
				}
				got, err := c.enc()
				if err != nil {
					t.Fatalf("%v: %v", c.args, err)
				}
				if c.args[1] != "-e" || c.args[2] != "pem" {
					got, want = afterFirstLine(got), afterFirstLine(want)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%v differs from imgtool's:\n%s\nwant\n%s", c.args, got, want)
				}
			}
		})
	}
}
