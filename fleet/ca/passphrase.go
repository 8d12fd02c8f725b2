package ca

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"rampart/internal/secfile"
)

// The passphrase policy for a CA key file written from now on. A copy of
// ca.key.enc can be attacked offline at scrypt's cost (about 0.1 s and
// 32 MiB a guess on one core), so the passphrase must be long and not a
// repetition; a generated one (openssl rand -base64 24: 32 characters)
// passes with room to spare.
const (
	MinPassphraseLen      = 16 // characters
	MinPassphraseDistinct = 8  // different characters among them
)

// ErrWeakPassphrase: the passphrase is below the policy.
var ErrWeakPassphrase = errors.New("ca: passphrase too weak")

// CheckPassphrase applies the policy: at least MinPassphraseLen characters
// (UTF-8; a byte that is not UTF-8 counts as one) of which at least
// MinPassphraseDistinct differ. It says what is missing, never the
// passphrase.
func CheckPassphrase(p []byte) error {
	n := utf8.RuneCount(p)
	if n < MinPassphraseLen {
		return fmt.Errorf("%w: %d characters, want at least %d", ErrWeakPassphrase, n, MinPassphraseLen)
	}
	distinct := map[rune]bool{}
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			r = -rune(p[0]) - 1 // each invalid byte is its own character
		}
		distinct[r] = true
		p = p[size:]
	}
	if len(distinct) < MinPassphraseDistinct {
		return fmt.Errorf("%w: %d different characters, want at least %d (a repeated pattern is guessed first)", ErrWeakPassphrase, len(distinct), MinPassphraseDistinct)
	}
	return nil
}

// ChangePassphrase re-encrypts the CA key in dir under newPass, which must
// meet the policy; oldPass must open it. The key file is replaced whole
// (0600, renamed into place): a crash leaves the old or the new file. A
// running server keeps its key in memory; it needs newPass at its next
// start.
func ChangePassphrase(dir string, oldPass, newPass []byte, rand io.Reader) error {
	if err := CheckPassphrase(newPass); err != nil {
		return err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	enc, err := Reencrypt(certPEM, keyPEM, oldPass, newPass, rand)
	if err != nil {
		return err
	}
	if err := secfile.WriteFile(filepath.Join(dir, KeyFile), enc); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return nil
}

// Reencrypt opens the encrypted CA key keyPEM (of the certificate
// certPEM) with oldPass and returns it encrypted under newPass, which must
// pass CheckPassphrase: ChangePassphrase's work on a key kept elsewhere than
// in a file (the store of a cluster).
func Reencrypt(certPEM, keyPEM, oldPass, newPass []byte, rand io.Reader) ([]byte, error) {
	if err := CheckPassphrase(newPass); err != nil {
		return nil, err
	}
	c, err := load(certPEM, keyPEM, oldPass, Options{Rand: rand})
	if err != nil {
		return nil, err
	}
	return EncryptKey(c.key.(*ecdsa.PrivateKey), newPass, rand) // load makes only ECDSA keys
}
