package image

import (
	"errors"
	"os"
	"testing"
)

// testdata/pw-*.pem were written by imgtool's key classes (Python
// cryptography, BestAvailableEncryption) with the password "secret".
func TestPasswordProtectedKeys(t *testing.T) {
	for _, f := range []string{"pw-ecdsa-p256.pem", "pw-ed25519.pem", "pw-rsa-2048.pem"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseKeyPEM(b); !errors.Is(err, ErrPasswordRequired) {
			t.Errorf("%s without password: %v", f, err)
		}
		if _, err := ParseKeyPEMPassword(b, []byte("wrong")); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with a wrong password: %v", f, err)
		}
		k, err := ParseKeyPEMPassword(b, []byte("secret"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// and back: our encoding decrypts to the same key
		enc, err := MarshalPrivateKeyPEMPassword(k, []byte("pw"), nil)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseKeyPEMPassword(enc, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := PublicKeyBytes(k)
		c, _ := PublicKeyBytes(k2)
		if string(a) != string(c) {
			t.Fatalf("%s: round trip changed the key", f)
		}
		for i := 0; i < len(enc)-40; i += 7 { // damaged files never panic
			ParseKeyPEMPassword(append(append([]byte(nil), enc[:i]...), enc[i+1:]...), []byte("pw"))
		}
	}
}

// FuzzParseKeyPEM feeds hostile key files (trust boundary: files given to
// the CLI) to the PEM, PKCS#8 and PBES2 parsers, seeded from the vector keys.
func FuzzParseKeyPEM(f *testing.F) {
	for _, p := range []string{"mcuboot/ecdsa-p256.pem", "mcuboot/ecdsa-p384.pem", "mcuboot/ed25519.pem", "mcuboot/rsa-2048.pem",
		"mcuboot/ed25519.pub.pem", "mcuboot/enc/enc-x25519-priv.pem", "pw-ecdsa-p256.pem", "pw-ed25519.pem"} {
		b, err := os.ReadFile("testdata/" + p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyPEM(b)
		if err == nil {
			if _, err := PublicKeyBytes(k); err != nil {
				t.Fatalf("accepted key has no MCUboot encoding: %v", err)
			}
		}
		ParseKeyPEMPassword(b, []byte("secret"))
	})
}
