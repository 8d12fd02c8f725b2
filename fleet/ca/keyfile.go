package ca

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/crypto/scrypt"
)

// ErrPassphrase: the CA key does not decrypt with the passphrase given.
var ErrPassphrase = errors.New("ca: wrong passphrase or corrupted key file")

// encryptedKeyType is the PEM type of an encrypted CA key file.
const encryptedKeyType = "RAMPART ENCRYPTED PRIVATE KEY"

// scrypt parameters: N=2^15, r=8, p=1 (about 32 MiB and 0.1 s per unlock).
const scryptN, scryptR, scryptP = 1 << 15, 8, 1

// EncryptKey seals priv (PKCS#8) under a key derived from passphrase with
// scrypt, as AES-256-GCM, and returns a PEM block whose headers carry the
// KDF parameters and salt. The PEM type and headers are the GCM additional
// data, so they cannot be altered without detection.
func EncryptKey(priv *ecdsa.PrivateKey, passphrase []byte, rand io.Reader) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("ca: passphrase: empty")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("ca: encode key: %w", err)
	}
	salt := make([]byte, 16)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("ca: salt: %w", err)
	}
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("ca: nonce: %w", err)
	}
	h := map[string]string{"KDF": "scrypt", "N": strconv.Itoa(scryptN), "R": strconv.Itoa(scryptR), "P": strconv.Itoa(scryptP), "Salt": hex.EncodeToString(salt), "Nonce": hex.EncodeToString(nonce)}
	aead, err := keyAEAD(passphrase, salt, scryptN, scryptR, scryptP)
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(nil, nonce, der, aad(h))
	return pem.EncodeToMemory(&pem.Block{Type: encryptedKeyType, Headers: h, Bytes: ct}), nil
}

func aad(h map[string]string) []byte {
	return []byte(encryptedKeyType + "|" + h["KDF"] + "|" + h["N"] + "|" + h["R"] + "|" + h["P"] + "|" + h["Salt"] + "|" + h["Nonce"])
}

func keyAEAD(passphrase, salt []byte, n, r, p int) (cipher.AEAD, error) {
	k, err := scrypt.Key(passphrase, salt, n, r, p, 32)
	if err != nil {
		return nil, fmt.Errorf("ca: kdf: %w", err)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// DecryptKey opens a key file made by EncryptKey.
func DecryptKey(data, passphrase []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != encryptedKeyType {
		return nil, fmt.Errorf("ca: key file: not a %q PEM block", encryptedKeyType)
	}
	h := b.Headers
	if h["KDF"] != "scrypt" {
		return nil, fmt.Errorf("ca: key file: KDF %q unsupported", h["KDF"])
	}
	n, err1 := strconv.Atoi(h["N"])
	r, err2 := strconv.Atoi(h["R"])
	p, err3 := strconv.Atoi(h["P"])
	if err := errors.Join(err1, err2, err3); err != nil || n < 1<<14 || n > 1<<20 || r < 1 || r > 32 || p < 1 || p > 16 {
		return nil, fmt.Errorf("ca: key file: scrypt parameters N=%q R=%q P=%q out of range", h["N"], h["R"], h["P"])
	}
	salt, err := hex.DecodeString(h["Salt"])
	if err != nil || len(salt) < 16 {
		return nil, errors.New("ca: key file: bad Salt header")
	}
	nonce, err := hex.DecodeString(h["Nonce"])
	if err != nil || len(nonce) != 12 {
		return nil, errors.New("ca: key file: bad Nonce header")
	}
	aead, err := keyAEAD(passphrase, salt, n, r, p)
	if err != nil {
		return nil, err
	}
	der, err := aead.Open(nil, nonce, b.Bytes, aad(h))
	if err != nil {
		return nil, ErrPassphrase
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("ca: key file: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ca: key file: %T is not an ECDSA key", k)
	}
	return ek, nil
}
