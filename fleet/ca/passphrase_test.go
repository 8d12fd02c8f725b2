package ca

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPassphrase(t *testing.T) {
	for _, c := range []struct {
		p  string
		ok bool
	}{
		{"", false},
		{"x", false},                           // accepted before the policy
		{"fifteen-chars!!", false},             // 15
		{"aaaaaaaaaaaaaaaaaaaaaaaa", false},    // long, one character
		{"abababababababababababab", false},    // a repeated pattern
		{"passwordpassword", false},            // 7 different characters
		{"ééééééééééééééé", false},             // 15 characters in 30 bytes
		{"correct horse battery staple", true}, // 28 characters, 13 different
		{"0123456789abcdef", true},
		{"kT3vQ9xWm2pL8rZs4yBn6cHd", true}, // openssl rand -base64 18
		{"日本語のパスフレーズは十分に長い", true},
	} {
		err := CheckPassphrase([]byte(c.p))
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrWeakPassphrase)) {
			t.Errorf("%q: %v, want ok=%v", c.p, err, c.ok)
		}
		if err != nil && len(c.p) > 3 && strings.Contains(err.Error(), c.p) {
			t.Errorf("%q: the error shows the passphrase: %v", c.p, err)
		}
	}
	// Invalid UTF-8 bytes count one each, and as different characters.
	if err := CheckPassphrase([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0")); err != nil {
		t.Errorf("16 different invalid bytes: %v", err)
	}
}

// TestChangePassphrase: the key opens with the new passphrase and no longer
// with the old one, the certificate is unchanged, the file stays 0600; a
// weak new passphrase or a wrong old one changes nothing.
func TestChangePassphrase(t *testing.T) {
	dir := t.TempDir()
	oldPass, newPass := []byte("pw"), []byte("kT3vQ9xWm2pL8rZs4yBn6cHd")
	c, err := Open(dir, oldPass, Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if err := ChangePassphrase(dir, oldPass, []byte("still-weak"), rand.Reader); !errors.Is(err, ErrWeakPassphrase) {
		t.Fatalf("weak new passphrase: %v", err)
	}
	if err := ChangePassphrase(dir, []byte("wrong"), newPass, rand.Reader); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("wrong old passphrase: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, KeyFile)); string(after) != string(before) {
		t.Fatal("a refused change rewrote the key file")
	}
	if err := ChangePassphrase(dir, oldPass, newPass, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, oldPass, Options{Rand: rand.Reader}); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("old passphrase after the change: %v", err)
	}
	c2, err := Open(dir, newPass, Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Certificate().Equal(c.Certificate()) {
		t.Fatal("the certificate changed")
	}
	if st, _ := os.Stat(filepath.Join(dir, KeyFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
}
