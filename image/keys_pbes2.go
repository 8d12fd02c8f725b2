package image

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrPasswordRequired is returned by [ParseKeyPEM] for a password-protected
// key; use [ParseKeyPEMPassword].
var ErrPasswordRequired = errors.New("the key is password-protected")

// PKCS#5 v2 (RFC 8018) object identifiers.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// maxPBKDF2Iterations bounds the work a hostile key file can ask for.
const maxPBKDF2Iterations = 10_000_000

// keygenIterations is the PBKDF2 count MarshalPrivateKeyPEMPassword uses.
const keygenIterations = 200_000

type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

// ParseKeyPEMPassword reads a key like [ParseKeyPEM], decrypting an
// "ENCRYPTED PRIVATE KEY" (PKCS#8 with PBES2: PBKDF2 with HMAC-SHA-1/256/
// 384/512 and AES-CBC, as imgtool keygen -p and OpenSSL write) with password.
func ParseKeyPEMPassword(data, password []byte) (any, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "ENCRYPTED PRIVATE KEY" {
		return ParseKeyPEM(data)
	}
	bad := func(format string, args ...any) error {
		return argErr("key", "%w: encrypted PKCS#8: "+format, append([]any{ErrMalformed}, args...)...)
	}
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(blk.Bytes, &info); err != nil || len(rest) != 0 {
		return nil, bad("not an EncryptedPrivateKeyInfo")
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, argErr("key", "%w: encryption scheme %v (only PBES2 is supported)", ErrUnsupported, info.Algo.Algorithm)
	}
	var p pbes2Params
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
		return nil, bad("bad PBES2 parameters")
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, argErr("key", "%w: key derivation %v (only PBKDF2 is supported)", ErrUnsupported, p.KDF.Algorithm)
	}
	var kp pbkdf2Params
	if rest, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil || len(rest) != 0 {
		return nil, bad("bad PBKDF2 parameters")
	}
	if kp.Iter < 1 || kp.Iter > maxPBKDF2Iterations {
		return nil, bad("PBKDF2 iteration count %d outside 1..%d", kp.Iter, maxPBKDF2Iterations)
	}
	var prf func() hash.Hash
	switch a := kp.PRF.Algorithm; {
	case len(a) == 0 || a.Equal(oidHMACSHA1):
		prf = sha1.New
	case a.Equal(oidHMACSHA256):
		prf = sha256.New
	case a.Equal(oidHMACSHA384):
		prf = sha512.New384
	case a.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, argErr("key", "%w: PBKDF2 PRF %v", ErrUnsupported, a)
	}
	var keyLen int
	switch a := p.Scheme.Algorithm; {
	case a.Equal(oidAES128CBC):
		keyLen = 16
	case a.Equal(oidAES192CBC):
		keyLen = 24
	case a.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, argErr("key", "%w: cipher %v (only AES-CBC is supported)", ErrUnsupported, a)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.Scheme.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return nil, bad("bad AES-CBC IV")
	}
	if len(info.Data) == 0 || len(info.Data)%aes.BlockSize != 0 {
		return nil, bad("ciphertext of %d bytes is not a multiple of the AES block", len(info.Data))
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, bad("PBKDF2: %v", err)
	}
	blkc, _ := aes.NewCipher(key)
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(blkc, iv).CryptBlocks(plain, info.Data)
	n := int(plain[len(plain)-1])
	if n < 1 || n > aes.BlockSize || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, argErr("key", "%w: wrong password (or a damaged key file)", ErrMalformed)
	}
	k, err := x509.ParsePKCS8PrivateKey(plain[:len(plain)-n])
	if err != nil {
		return nil, argErr("key", "%w: wrong password (or a damaged key file): %v", ErrMalformed, err)
	}
	if _, err := KeyTypeOf(k); err != nil {
		return nil, err
	}
	return k, nil
}

// MarshalPrivateKeyPEMPassword encodes k as an "ENCRYPTED PRIVATE KEY":
// PKCS#8 under PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, which imgtool
// and OpenSSL read. r supplies the salt and IV (crypto/rand when nil).
func MarshalPrivateKeyPEMPassword(k any, password []byte, r io.Reader) ([]byte, error) {
	if len(password) == 0 {
		return nil, argErr("password", "empty password")
	}
	if r == nil {
		r = rand.Reader
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("image: encoding private key: %w", err)
	}
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, fmt.Errorf("image: reading salt: %w", err)
	}
	if _, err := io.ReadFull(r, iv); err != nil {
		return nil, fmt.Errorf("image: reading IV: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, keygenIterations, 32)
	if err != nil {
		return nil, fmt.Errorf("image: PBKDF2: %w", err)
	}
	n := aes.BlockSize - len(der)%aes.BlockSize
	plain := append(der, bytes.Repeat([]byte{byte(n)}, n)...)
	blkc, _ := aes.NewCipher(key)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(blkc, iv).CryptBlocks(ct, plain)

	null := asn1.RawValue{Tag: asn1.TagNull}
	kdfParams, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iter: keygenIterations,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: null}})
	if err != nil {
		return nil, err
	}
	ivDER, _ := asn1.Marshal(iv)
	p2, err := asn1.Marshal(pbes2Params{
		KDF:    pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Scheme: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	out, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: p2}},
		Data: ct,
	})
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out}), nil
}
