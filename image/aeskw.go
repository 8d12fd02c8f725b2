package image

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// AES key wrap (RFC 3394, NIST SP 800-38F "KW"): MCUboot's
// MCUBOOT_ENCRYPT_KW key exchange, TLV 0x31. The image's body key is
// wrapped with a key-encryption key (KEK) the device holds in secret: a
// symmetric key, given to Sign as EncryptKey and to the bootloader as its
// decrypt key as a []byte of 16 (AES-128) or 32 (AES-256) bytes.

// kwIV is RFC 3394's default initial value.
var kwIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

// aesKeyWrap wraps key (a multiple of 8 bytes, at least 16) with kek.
func aesKeyWrap(kek, key []byte) ([]byte, error) {
	blk, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("image: AES-KW key: %w", err)
	}
	if len(key) < 16 || len(key)%8 != 0 {
		return nil, errors.New("image: AES-KW: the wrapped key must be a multiple of 8 bytes, at least 16")
	}
	n := len(key) / 8
	out := make([]byte, 8+len(key))
	copy(out[8:], key)
	a := kwIV
	var b [16]byte
	for j := range 6 {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], out[8*i:8*i+8])
			blk.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:], b[8:])
		}
	}
	copy(out, a[:])
	return out, nil
}

// aesKeyUnwrap reverses aesKeyWrap and checks the integrity value.
func aesKeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	blk, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("image: AES-KW key: %w", err)
	}
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, fmt.Errorf("image: AES-KW: %d wrapped bytes, want a multiple of 8, at least 24", len(wrapped))
	}
	n := len(wrapped)/8 - 1
	r := make([]byte, 8*n)
	copy(r, wrapped[8:])
	var a [8]byte
	copy(a[:], wrapped[:8])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], r[8*(i-1):8*i])
			blk.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(r[8*(i-1):], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], kwIV[:]) != 1 {
		return nil, errors.New("image: AES-KW: integrity check failed (wrong key-encryption key, or damaged)")
	}
	return r, nil
}
