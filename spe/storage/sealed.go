package storage

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io"
)

var sealMagic = []byte("RSL1")

func sealAEAD(huk []byte, label string) (cipher.AEAD, error) {
	if len(huk) != 32 {
		return nil, fmt.Errorf("storage: hardware unique key of %d bytes, want 32", len(huk))
	}
	k, err := hkdf.Key(sha256.New, huk, nil, "rampart sealed "+label, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// PutSealed stores secret as object name, sealed with AES-256-GCM under a key
// derived from huk and label (the label and name are authenticated too), so
// the file is useless without the device's HUK.
func (s *Store) PutSealed(name, label string, huk, secret []byte, rand io.Reader) error {
	aead, err := sealAEAD(huk, label)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return fmt.Errorf("storage: seal %s: %w", name, err)
	}
	b := append(append([]byte(nil), sealMagic...), nonce...)
	return s.Put(name, aead.Seal(b, nonce, secret, []byte(label+"\x00"+name)))
}

// ErrUnseal is returned for a sealed object that does not authenticate.
var ErrUnseal = fmt.Errorf("storage: sealed object does not authenticate")

// GetSealed reads and unseals object name (ErrNotExist when absent,
// ErrUnseal when damaged or sealed under another key or label).
func (s *Store) GetSealed(name, label string, huk []byte) ([]byte, error) {
	b, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	aead, err := sealAEAD(huk, label)
	if err != nil {
		return nil, err
	}
	n := len(sealMagic) + aead.NonceSize()
	if len(b) < n+aead.Overhead() || !bytes.Equal(b[:len(sealMagic)], sealMagic) {
		return nil, fmt.Errorf("%w: %s is malformed", ErrUnseal, name)
	}
	pt, err := aead.Open(nil, b[len(sealMagic):n], b[n:], []byte(label+"\x00"+name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnseal, name)
	}
	return pt, nil
}
