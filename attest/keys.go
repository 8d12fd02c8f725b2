package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/veraison/go-cose"
)

// InstanceID computes the instance ID of an attestation public key as TF-M
// and RFC 9783 define it for an asymmetric IAK: 0x01 (UEID type RAND)
// followed by SHA-256 of the uncompressed SEC1 point 0x04 || X || Y.
func InstanceID(pub crypto.PublicKey) ([]byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an ECDSA public key", ErrKey, pub)
	}
	point, err := k.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	h := sha256.Sum256(point)
	return append([]byte{0x01}, h[:]...), nil
}

// algorithmFor returns the COSE algorithm an attestation key signs with:
// ES256 for P-256, ES384 for P-384, ES512 for P-521.
func algorithmFor(pub crypto.PublicKey) (cose.Algorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return 0, fmt.Errorf("%w: %T is not an ECDSA public key", ErrKey, pub)
	}
	switch k.Curve {
	case elliptic.P256():
		return cose.AlgorithmES256, nil
	case elliptic.P384():
		return cose.AlgorithmES384, nil
	case elliptic.P521():
		return cose.AlgorithmES512, nil
	}
	return 0, fmt.Errorf("%w: curve %s is not P-256, P-384 or P-521", ErrKey, k.Curve.Params().Name)
}

// ParsePublicKeyPEM reads an ECDSA public key from PEM: a PKIX "PUBLIC KEY"
// block, or a private key block whose public half is taken.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrKey)
	}
	if block.Type == "PUBLIC KEY" {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not an ECDSA public key", ErrKey, k)
		}
		if _, err := algorithmFor(ek); err != nil {
			return nil, err
		}
		return ek, nil
	}
	sk, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, err
	}
	return &sk.PublicKey, nil
}

// ParsePrivateKeyPEM reads an ECDSA private key from a PKCS#8 "PRIVATE KEY"
// or SEC1 "EC PRIVATE KEY" PEM block.
func ParsePrivateKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrKey)
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q, want PUBLIC KEY, PRIVATE KEY or EC PRIVATE KEY", ErrKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an ECDSA private key", ErrKey, k)
	}
	if _, err := algorithmFor(&ek.PublicKey); err != nil {
		return nil, err
	}
	return ek, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKeyPEM(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
