package image

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImgtoolCrossCheck runs the real imgtool (RAMPART_IMGTOOL = path to
// imgtool.py, run with RAMPART_PYTHON or /usr/bin/python3) against images
// Rampart signs, and Rampart against images imgtool signs with
// Rampart-generated keys. docs/imgtool-interop.md explains how to set it up.
func TestImgtoolCrossCheck(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): imgtool cross-check skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	dir := t.TempDir()
	imgtool := func(args ...string) (string, error) {
		out, err := exec.Command(py, append([]string{tool}, args...)...).CombinedOutput()
		return string(out), err
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := func(name string, k any) string {
		b, err := MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, b)
	}
	in := make([]byte, 20000)
	rand.Read(in)
	inFile := write("in.bin", in)
	keys := map[KeyType]crypto.Signer{}
	for _, kt := range []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072} {
		keys[kt] = genKey(t, kt)
	}
	sc := uint32(9)

	// imgtool verifies what Rampart signs.
	for kt, k := range keys {
		for _, pad := range []bool{false, true} {
			res, err := Sign(in, &SignOptions{Key: k, HeaderSize: 0x200, PadHeader: true, SlotSize: 0x10000, Pad: pad,
				Version: Version{3, 1, 4, 15}, SecurityCounter: &sc, BootRecord: "NSPE"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := imgtool("verify", "-k", keyFile(string(kt)+".pem", k), write("r.bin", res.Bytes))
			if err != nil || !strings.Contains(out, "Image was correctly validated") {
				t.Errorf("imgtool rejects a Rampart %s image (pad %v): %v\n%s", kt, pad, err, out)
			}
		}
	}

	// Variants imgtool also accepts: padded ECDSA signatures, full public
	// keys, RAM load address.
	for _, v := range []struct {
		kt  KeyType
		mod func(o *SignOptions)
	}{
		{KeyECDSAP256, func(o *SignOptions) { o.PadSig = true }},
		{KeyECDSAP384, func(o *SignOptions) { o.PadSig = true; o.PublicKeyFormat = KeyFormatFull }},
		{KeyRSA3072, func(o *SignOptions) { o.LoadAddr = 0x20000000; o.PublicKeyFormat = KeyFormatFull }},
	} {
		o := &SignOptions{Key: keys[v.kt], HeaderSize: 0x200, PadHeader: true, SlotSize: 0x10000}
		v.mod(o)
		res, err := Sign(in, o)
		if err != nil {
			t.Fatal(err)
		}
		out, err := imgtool("verify", "-k", keyFile(string(v.kt)+".pem", keys[v.kt]), write("v.bin", res.Bytes))
		if err != nil || !strings.Contains(out, "Image was correctly validated") {
			t.Errorf("imgtool rejects a Rampart %s image (%+v): %v\n%s", v.kt, o, err, out)
		}
	}

	// Encrypted: Rampart encrypts, an independent Python decryptor
	// (testdata/decrypt_image.py) recovers the plaintext image, imgtool
	// verifies it. Then imgtool encrypts and Rampart decrypts and verifies.
	x25519, _ := GenerateKey(KeyX25519, nil)
	ec256, _ := GenerateKey(KeyECDSAP256, nil)
	rsaEnc, _ := GenerateKey(KeyRSA2048, nil)
	for _, c := range []struct {
		name       string
		sign       KeyType
		enc        any
		keyLen     string
		hmac       string
		keyL, hmcL int
	}{
		{"x25519", KeyEd25519, x25519, "128", "auto", 128, 0},
		{"x25519-aes256-sha512", KeyEd25519, x25519, "256", "512", 256, 512},
		{"ec256", KeyECDSAP256, ec256, "128", "auto", 128, 0},
		{"rsa2048", KeyRSA2048, rsaEnc, "128", "auto", 128, 0},
	} {
		signKey := keyFile(c.name+"-sign.pem", keys[c.sign])
		encPriv := keyFile(c.name+"-enc.pem", c.enc)
		res, err := Sign(in, &SignOptions{Key: keys[c.sign], HeaderSize: 0x200, PadHeader: true, SlotSize: 0x10000,
			EncryptKey: publicOf(c.enc), EncryptKeyLen: c.keyL, HMACBits: c.hmcL})
		if err != nil {
			t.Fatal(err)
		}
		encFile := write(c.name+".enc.bin", res.Bytes)
		plain := filepath.Join(dir, c.name+".plain.bin")
		if out, err := exec.Command(py, "testdata/decrypt_image.py", encPriv, encFile, plain).CombinedOutput(); err != nil {
			t.Errorf("%s: the Python decryptor fails on a Rampart image: %v\n%s", c.name, err, out)
			continue
		}
		if out, err := imgtool("verify", "-k", signKey, plain); err != nil || !strings.Contains(out, "Image was correctly validated") {
			t.Errorf("%s: imgtool rejects the decrypted Rampart image: %v\n%s", c.name, err, out)
		}
		if out, err := imgtool("verify", "-k", signKey, encFile); err == nil {
			t.Errorf("%s: imgtool verified the ciphertext image?\n%s", c.name, out)
		}
		// imgtool encrypts with the Rampart-generated public key; Rampart decrypts.
		pubPEM, _ := MarshalPublicKeyPEM(c.enc)
		encPub := write(c.name+"-enc.pub.pem", pubPEM)
		theirs := filepath.Join(dir, c.name+".imgtool.bin")
		if out, err := imgtool("sign", "-k", signKey, "-E", encPub, "--encrypt-keylen", c.keyLen, "--hmac-sha", c.hmac,
			"-H", "0x200", "--pad-header", "-v", "1.0.0", "-S", "0x10000", inFile, theirs); err != nil {
			t.Errorf("%s: imgtool sign -E: %v\n%s", c.name, err, out)
			continue
		}
		b, _ := os.ReadFile(theirs)
		img, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		v, err := img.Verify(VerifyOptions{Keys: []any{keys[c.sign].Public()}, DecryptKey: c.enc})
		if err != nil || !v.Signed || !bytes.Equal(v.Plaintext[0x200:0x200+len(in)], in) {
			t.Errorf("%s: Rampart cannot decrypt/verify imgtool's image: %v", c.name, err)
		}
	}

	// Rampart verifies what imgtool signs with Rampart-generated keys, and
	// Ed25519 output is identical.
	for kt, k := range keys {
		kf := keyFile("t-"+string(kt)+".pem", k)
		theirs := filepath.Join(dir, "t.bin")
		if out, err := imgtool("sign", "-k", kf, "-H", "0x200", "--pad-header", "-v", "1.2.3+4", "-S", "0x10000",
			"-s", "auto", "--pad", "--confirm", inFile, theirs); err != nil {
			t.Fatalf("imgtool sign with a Rampart %s key: %v\n%s", kt, err, out)
		}
		b, _ := os.ReadFile(theirs)
		if _, _, err := Verify(b, k.Public()); err != nil {
			t.Errorf("Rampart rejects imgtool's %s image: %v", kt, err)
		}
		if kt == KeyEd25519 {
			sc := Version{1, 2, 3, 4}.SecurityCounter()
			mine, err := Sign(in, &SignOptions{Key: k, HeaderSize: 0x200, PadHeader: true, Version: Version{1, 2, 3, 4},
				SlotSize: 0x10000, SecurityCounter: &sc, Pad: true, Confirm: true})
			if err != nil || !bytes.Equal(mine.Bytes, b) {
				t.Errorf("Ed25519 image differs from imgtool's: %v", err)
			}
		}
	}
}
