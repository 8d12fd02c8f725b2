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

// SealLabel is the HKDF label of the key that seals objects of label: the
// sealing key is HKDF-SHA256(HUK, SealLabel(label)). A process without the
// HUK gets that key from the root key partition (isolation level 3).
func SealLabel(label string) string { return "rampart sealed " + label }

func sealAEAD(huk []byte, label string) (cipher.AEAD, error) {
	if len(huk) != 32 {
		return nil, fmt.Errorf("storage: hardware unique key of %d bytes, want 32", len(huk))
	}
	k, err := hkdf.Key(sha256.New, huk, nil, SealLabel(label), 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return keyAEAD(k)
}

func keyAEAD(k []byte) (cipher.AEAD, error) {
	if len(k) != 32 {
		return nil, fmt.Errorf("storage: sealing key of %d bytes, want 32", len(k))
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
	return s.putSealed(aead, name, label, secret, rand)
}

// PutSealedWithKey is PutSealed with the sealing key itself,
// HKDF-SHA256(HUK, SealLabel(label)), instead of the HUK.
func (s *Store) PutSealedWithKey(name, label string, key, secret []byte, rand io.Reader) error {
	aead, err := keyAEAD(key)
	if err != nil {
		return err
	}
	return s.putSealed(aead, name, label, secret, rand)
}

func (s *Store) putSealed(aead cipher.AEAD, name, label string, secret []byte, rand io.Reader) error {
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
	aead, err := sealAEAD(huk, label)
	if err != nil {
		return nil, err
	}
	return s.getSealed(aead, name, label)
}

// GetSealedWithKey is GetSealed with the sealing key itself,
// HKDF-SHA256(HUK, SealLabel(label)), instead of the HUK.
func (s *Store) GetSealedWithKey(name, label string, key []byte) ([]byte, error) {
	aead, err := keyAEAD(key)
	if err != nil {
		return nil, err
	}
	return s.getSealed(aead, name, label)
}

func (s *Store) getSealed(aead cipher.AEAD, name, label string) ([]byte, error) {
	b, err := s.Get(name)
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
