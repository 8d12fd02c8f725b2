package image

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"hash"
	"io"
)

// Hash is an image hash algorithm, named by its TLV type.
type Hash uint16

// Image hash algorithms.
const (
	SHA256 = Hash(TLVSHA256)
	SHA384 = Hash(TLVSHA384)
	SHA512 = Hash(TLVSHA512)
)

// New returns a fresh hash.Hash, or nil for an unknown Hash.
func (h Hash) New() hash.Hash {
	switch h {
	case SHA256:
		return sha256.New()
	case SHA384:
		return sha512.New384()
	case SHA512:
		return sha512.New()
	}
	return nil
}

// Size is the digest length in bytes (0 for an unknown Hash).
func (h Hash) Size() int {
	switch h {
	case SHA256:
		return 32
	case SHA384:
		return 48
	case SHA512:
		return 64
	}
	return 0
}

// String is imgtool's TLV name ("SHA256", ...).
func (h Hash) String() string { return TLVName(uint16(h)) }

// Sum hashes b.
func (h Hash) Sum(b []byte) []byte {
	switch h {
	case SHA256:
		s := sha256.Sum256(b)
		return s[:]
	case SHA384:
		s := sha512.Sum384(b)
		return s[:]
	case SHA512:
		s := sha512.Sum512(b)
		return s[:]
	}
	return nil
}

// HashFromBits maps 256, 384, 512 to a Hash.
func HashFromBits(bits int) (Hash, error) {
	switch bits {
	case 256:
		return SHA256, nil
	case 384:
		return SHA384, nil
	case 512:
		return SHA512, nil
	}
	return 0, argErr("sha", "%d is not one of 256, 384, 512", bits)
}

// KeyType is a kind of key imgtool can generate and MCUboot can use.
type KeyType string

// Key types, named as imgtool keygen -t names them.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyEd25519   KeyType = "ed25519"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyX25519    KeyType = "x25519" // encryption only
)

// KeyTypes lists every KeyType.
var KeyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072, KeyX25519}

// KeyTypeOf classifies a public or private key.
func KeyTypeOf(k any) (KeyType, error) {
	if s, ok := k.(crypto.Signer); ok {
		k = s.Public()
	}
	if p, ok := k.(*ecdh.PrivateKey); ok {
		k = p.PublicKey()
	}
	switch p := k.(type) {
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return KeyECDSAP256, nil
		case elliptic.P384():
			return KeyECDSAP384, nil
		}
		return "", argErr("key", "%w: ECDSA curve %s (MCUboot uses P-256 or P-384)", ErrUnsupported, p.Curve.Params().Name)
	case ed25519.PublicKey:
		return KeyEd25519, nil
	case *rsa.PublicKey:
		switch p.N.BitLen() {
		case 2048:
			return KeyRSA2048, nil
		case 3072:
			return KeyRSA3072, nil
		}
		return "", argErr("key", "%w: RSA key of %d bits (MCUboot uses 2048 or 3072)", ErrUnsupported, p.N.BitLen())
	case *ecdh.PublicKey:
		if p.Curve() == ecdh.X25519() {
			return KeyX25519, nil
		}
		return "", argErr("key", "%w: ECDH key on %v", ErrUnsupported, p.Curve())
	}
	return "", argErr("key", "%w: key type %T", ErrUnsupported, k)
}

// SigTLV is the signature TLV type a key of this type writes (0 for x25519).
func (t KeyType) SigTLV() uint16 {
	switch t {
	case KeyECDSAP256, KeyECDSAP384:
		return TLVECDSASig
	case KeyEd25519:
		return TLVED25519
	case KeyRSA2048:
		return TLVRSA2048PSS
	case KeyRSA3072:
		return TLVRSA3072PSS
	}
	return 0
}

// allowedHashes are the image hashes imgtool accepts per key type, the
// first being its default (ALLOWED_KEY_SHA). imgtool allows SHA-512 with a
// P-256 key only when the key is public (external signing, --fix-sig).
func (t KeyType) allowedHashes(private bool) []Hash {
	switch t {
	case KeyECDSAP384:
		return []Hash{SHA384}
	case KeyECDSAP256:
		if private {
			return []Hash{SHA256}
		}
		return []Hash{SHA256, SHA512}
	case KeyRSA2048, KeyRSA3072:
		return []Hash{SHA256}
	case KeyEd25519, KeyX25519:
		return []Hash{SHA256, SHA512}
	}
	return nil
}

// ShortName is imgtool's shortname, used in lang-c/lang-rust symbol names.
func (t KeyType) ShortName() string {
	switch t {
	case KeyECDSAP256:
		return "ecdsa"
	case KeyECDSAP384:
		return "ecdsap384"
	case KeyEd25519:
		return "ed25519"
	case KeyRSA2048, KeyRSA3072:
		return "rsa"
	case KeyX25519:
		return "x25519"
	}
	return string(t)
}

// publicOf returns the public half of a public or private key.
func publicOf(k any) crypto.PublicKey {
	switch p := k.(type) {
	case crypto.Signer:
		return p.Public()
	case *ecdh.PrivateKey:
		return p.PublicKey()
	}
	return k
}

// PublicKeyBytes returns the key encoding MCUboot embeds and hashes:
// SubjectPublicKeyInfo DER for ECDSA, Ed25519 and X25519, PKCS#1
// RSAPublicKey DER for RSA. k may be a public or a private key.
func PublicKeyBytes(k any) ([]byte, error) {
	pub := publicOf(k)
	if _, err := KeyTypeOf(pub); err != nil {
		return nil, err
	}
	if r, ok := pub.(*rsa.PublicKey); ok {
		return x509.MarshalPKCS1PublicKey(r), nil
	}
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("image: encoding public key: %w", err)
	}
	return b, nil
}

// KeyHash returns h(PublicKeyBytes(k)), the value of a KEYHASH TLV.
func KeyHash(k any, h Hash) ([]byte, error) {
	b, err := PublicKeyBytes(k)
	if err != nil {
		return nil, err
	}
	if h.Size() == 0 {
		return nil, argErr("hash", "%w: hash TLV type 0x%x", ErrUnsupported, uint16(h))
	}
	return h.Sum(b), nil
}

// GenerateKey makes a new key of type t. For ECDSA and RSA the Go standard
// library draws its randomness from the system regardless of r (see
// crypto/rand); r is used where the library honours it.
func GenerateKey(t KeyType, r io.Reader) (crypto.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	switch t {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), r)
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(r)
		return priv, err
	case KeyRSA2048:
		return rsa.GenerateKey(r, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(r, 3072)
	case KeyX25519:
		return ecdh.X25519().GenerateKey(r)
	}
	return nil, argErr("type", "%w: key type %q (want one of %v)", ErrUnsupported, t, KeyTypes)
}

// MarshalPrivateKeyPEM encodes a private key as unencrypted PKCS#8 PEM
// ("PRIVATE KEY"), as imgtool keygen writes it.
func MarshalPrivateKeyPEM(k crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("image: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes the public half of k as SubjectPublicKeyInfo
// PEM ("PUBLIC KEY"), as imgtool getpub -e pem writes it (also for RSA).
func MarshalPublicKeyPEM(k any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(publicOf(k))
	if err != nil {
		return nil, fmt.Errorf("image: encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParseKeyPEM reads a PEM key file: a private key (PKCS#8, SEC 1 "EC PRIVATE
// KEY" or PKCS#1 "RSA PRIVATE KEY") or a public key (SubjectPublicKeyInfo or
// PKCS#1). It returns *ecdsa.PrivateKey, ed25519.PrivateKey,
// *rsa.PrivateKey, *ecdh.PrivateKey (X25519), or the matching public key
// types, after checking the key is of a type MCUboot supports.
func ParseKeyPEM(data []byte) (any, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, argErr("key", "%w: no PEM block found", ErrMalformed)
	}
	if blk.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, argErr("key", "%w", ErrPasswordRequired)
	}
	if _, enc := blk.Headers["Proc-Type"]; enc {
		return nil, argErr("key", "%w: legacy OpenSSL PEM encryption is not supported; convert it to PKCS#8 (openssl pkcs8 -topk8)", ErrUnsupported)
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		return nil, argErr("key", "%w: PEM block type %q", ErrUnsupported, blk.Type)
	}
	if err != nil {
		return nil, argErr("key", "%w: %s block: %v", ErrMalformed, blk.Type, err)
	}
	if _, err := KeyTypeOf(k); err != nil {
		return nil, err
	}
	return k, nil
}
