package image

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
)

// eciesInfo is the HKDF info string MCUboot's ECIES key exchange uses.
const eciesInfo = "MCUBoot_ECIES_v1"

// encTLVs lists the key-exchange TLV types.
var encTLVs = []uint16{TLVEncRSA2048, TLVEncKW, TLVEncEC256, TLVEncX25519, TLVEncX25519SHA512}

func isEncTLV(t uint16) bool {
	for _, e := range encTLVs {
		if t == e {
			return true
		}
	}
	return false
}

// aesCTR XORs data in place with AES-CTR keyed by key, counter block starting
// at zero: MCUboot's body cipher (all-zero nonce, counter from the body start).
func aesCTR(key, data []byte) error {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("image: AES key: %w", err)
	}
	cipher.NewCTR(blk, make([]byte, aes.BlockSize)).XORKeyStream(data, data)
	return nil
}

// wrapKey encrypts the AES body key for the holder of encPub and returns the
// key-exchange TLV. hmacHash is SHA256 or SHA512 (SHA512 only for X25519).
func wrapKey(encPub any, aesKey []byte, hmacHash Hash, r io.Reader) (TLV, error) {
	switch p := encPub.(type) {
	case []byte:
		// AES-KW: a symmetric key-encryption key.
		v, err := aesKeyWrap(p, aesKey)
		return TLV{Type: TLVEncKW, Value: v}, err
	case *rsa.PublicKey:
		ct, err := rsa.EncryptOAEP(sha256.New(), r, p, aesKey, nil)
		if err != nil {
			return TLV{}, fmt.Errorf("image: RSA-OAEP key wrap: %w", err)
		}
		return TLV{Type: TLVEncRSA2048, Value: ct}, nil
	case *ecdsa.PublicKey:
		kt, err := KeyTypeOf(p)
		if err != nil || kt != KeyECDSAP256 {
			return TLV{}, argErr("encrypt key", "%w: ECIES needs a P-256 key", ErrUnsupported)
		}
		if hmacHash != SHA256 {
			return TLV{}, argErr("hmac-sha", "only ECIES-X25519 supports HMAC-SHA512")
		}
		pub, err := p.ECDH()
		if err != nil {
			return TLV{}, fmt.Errorf("image: ECIES-P256 key: %w", err)
		}
		v, err := eciesWrap(ecdh.P256(), pub, aesKey, hmacHash, r)
		return TLV{Type: TLVEncEC256, Value: v}, err
	case *ecdh.PublicKey:
		if p.Curve() != ecdh.X25519() {
			return TLV{}, argErr("encrypt key", "%w: ECDH curve %v", ErrUnsupported, p.Curve())
		}
		v, err := eciesWrap(ecdh.X25519(), p, aesKey, hmacHash, r)
		t := TLVEncX25519
		if hmacHash == SHA512 {
			t = TLVEncX25519SHA512
		}
		return TLV{Type: t, Value: v}, err
	}
	return TLV{}, argErr("encrypt key", "%w: %T cannot encrypt (use an RSA, P-256 or X25519 public key, or a 16- or 32-byte AES-KW key)", ErrUnsupported, encPub)
}

// eciesWrap: ephemeral ECDH, HKDF(shared, no salt, info) → AES key ‖ MAC key,
// AES-CTR(zero nonce) over the body key, HMAC over that ciphertext.
// The TLV value is ephemeral public key ‖ MAC ‖ encrypted key.
func eciesWrap(c ecdh.Curve, pub *ecdh.PublicKey, aesKey []byte, h Hash, r io.Reader) ([]byte, error) {
	eph, err := c.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("image: ECIES ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("image: ECIES key agreement: %w", err)
	}
	encKey, macKey, err := eciesDerive(shared, len(aesKey), h)
	if err != nil {
		return nil, err
	}
	ct := append([]byte(nil), aesKey...)
	if err := aesCTR(encKey, ct); err != nil {
		return nil, err
	}
	m := hmac.New(h.New, macKey)
	m.Write(ct)
	out := append([]byte(nil), eph.PublicKey().Bytes()...)
	out = m.Sum(out)
	return append(out, ct...), nil
}

func eciesDerive(shared []byte, keyLen int, h Hash) (encKey, macKey []byte, err error) {
	okm, err := hkdf.Key(h.New, shared, nil, eciesInfo, keyLen+h.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("image: ECIES HKDF: %w", err)
	}
	return okm[:keyLen], okm[keyLen:], nil
}

// unwrapKey recovers the AES body key from the image's key-exchange TLV
// using the private key priv.
func (img *Image) unwrapKey(priv any) ([]byte, error) {
	keyLen := 16
	if img.Header.Flags&FlagEncryptedAES256 != 0 {
		keyLen = 32
	}
	var found []TLV
	for _, t := range img.Unprotected.TLVs {
		if isEncTLV(t.Type) {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return nil, fieldErr("TLV area", img.Unprotected.Offset, ErrDecrypt, "ih_flags says encrypted but there is no key-exchange TLV (0x30-0x34)")
	}
	var lastErr error
	for _, t := range found {
		k, err := unwrapOne(t, priv, keyLen)
		if err == nil {
			return k, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func unwrapOne(t TLV, priv any, keyLen int) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fieldErr(t.field(), t.Offset, ErrDecrypt, format, args...)
	}
	switch t.Type {
	case TLVEncKW:
		kek, ok := priv.([]byte)
		if !ok {
			return nil, bad("needs a 16- or 32-byte AES key-encryption key, got %T", priv)
		}
		key, err := aesKeyUnwrap(kek, t.Value)
		if err != nil {
			return nil, bad("%v", err)
		}
		if len(key) != keyLen {
			return nil, bad("unwrapped key is %d bytes, ih_flags wants %d", len(key), keyLen)
		}
		return key, nil
	case TLVEncRSA2048:
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, bad("needs an RSA private key, got %T", priv)
		}
		key, err := rsa.DecryptOAEP(sha256.New(), nil, k, t.Value, nil)
		if err != nil {
			return nil, bad("RSA-OAEP: %v", err)
		}
		if len(key) != keyLen {
			return nil, bad("unwrapped key is %d bytes, ih_flags wants %d", len(key), keyLen)
		}
		return key, nil
	case TLVEncEC256, TLVEncX25519, TLVEncX25519SHA512:
		curve, pubLen, h := ecdh.P256(), 65, SHA256
		if t.Type != TLVEncEC256 {
			curve, pubLen = ecdh.X25519(), 32
		}
		if t.Type == TLVEncX25519SHA512 {
			h = SHA512
		}
		var dk *ecdh.PrivateKey
		switch k := priv.(type) {
		case *ecdsa.PrivateKey:
			var err error
			if dk, err = k.ECDH(); err != nil {
				return nil, bad("decrypt key: %v", err)
			}
		case *ecdh.PrivateKey:
			dk = k
		default:
			return nil, bad("needs a P-256 or X25519 private key, got %T", priv)
		}
		if dk.Curve() != curve {
			return nil, bad("decrypt key is on the wrong curve for this TLV")
		}
		want := pubLen + h.Size() + keyLen
		if len(t.Value) != want {
			return nil, bad("it_len %d, want %d", len(t.Value), want)
		}
		eph, err := curve.NewPublicKey(t.Value[:pubLen])
		if err != nil {
			return nil, bad("ephemeral public key: %v", err)
		}
		shared, err := dk.ECDH(eph)
		if err != nil {
			return nil, bad("key agreement: %v", err)
		}
		encKey, macKey, err := eciesDerive(shared, keyLen, h)
		if err != nil {
			return nil, err
		}
		mac, ct := t.Value[pubLen:pubLen+h.Size()], t.Value[pubLen+h.Size():]
		m := hmac.New(h.New, macKey)
		m.Write(ct)
		if !hmac.Equal(m.Sum(nil), mac) {
			return nil, bad("HMAC over the wrapped key does not match (wrong decrypt key?)")
		}
		key := append([]byte(nil), ct...)
		if err := aesCTR(encKey, key); err != nil {
			return nil, err
		}
		return key, nil
	}
	return nil, bad("%w: key exchange type", ErrUnsupported)
}

// Decrypt returns a copy of the hashed region ([Image.HashedRegion]) with
// the body decrypted using priv (the private half of the key given to
// imgtool -E). For an image that is not encrypted it returns a plain copy.
func (img *Image) Decrypt(priv any) ([]byte, error) {
	out := append([]byte(nil), img.HashedRegion()...)
	if !img.Header.Flags.Encrypted() {
		return out, nil
	}
	if priv == nil {
		return nil, fieldErr("ih_flags", 16, ErrEncrypted, "a decrypt key is needed")
	}
	key, err := img.unwrapKey(priv)
	if err != nil {
		return nil, err
	}
	s := int(img.Header.HdrSize)
	if err := aesCTR(key, out[s:s+int(img.Header.ImgSize)]); err != nil {
		return nil, err
	}
	return out, nil
}

// BodyKey returns the AES key of an encrypted image's body, unwrapped from
// its key-exchange TLV with priv: what a bootloader decrypting the image
// while copying it (MCUboot's boot_enc_load) needs. The body is AES-CTR
// over [HdrSize, HdrSize+ImgSize) with an all-zero nonce and the counter
// counting 16-byte blocks from the body start.
func (img *Image) BodyKey(priv any) ([]byte, error) {
	if !img.Header.Flags.Encrypted() {
		return nil, fieldErr("ih_flags", 16, ErrDecrypt, "the image is not encrypted")
	}
	if priv == nil {
		return nil, fieldErr("ih_flags", 16, ErrEncrypted, "a decrypt key is needed")
	}
	return img.unwrapKey(priv)
}
