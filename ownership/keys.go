package ownership

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"

	"github.com/veraison/go-cose"
)

// MarshalOwnerKey encodes an owner's public key as a hop names it: DER
// SubjectPublicKeyInfo of an ECDSA P-256 or P-384 key.
func MarshalOwnerKey(pub crypto.PublicKey) ([]byte, error) {
	if _, err := algorithm(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ownership: owner key: %w", err)
	}
	return der, nil
}

// ParseOwnerKey decodes an owner key a hop names.
func ParseOwnerKey(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: owner key: %v", ErrFormat, err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: owner key: %T, want ECDSA", ErrFormat, k)
	}
	if _, err := algorithm(pub); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return pub, nil
}

// algorithm is the COSE algorithm of an owner's key: ES256 for P-256,
// ES384 for P-384; nothing else is an owner key.
func algorithm(pub crypto.PublicKey) (cose.Algorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return 0, fmt.Errorf("ownership: key: %T, want ECDSA P-256 or P-384", pub)
	}
	switch k.Curve {
	case elliptic.P256():
		return cose.AlgorithmES256, nil
	case elliptic.P384():
		return cose.AlgorithmES384, nil
	}
	return 0, fmt.Errorf("ownership: key: curve %s, want P-256 or P-384", k.Curve.Params().Name)
}

// sameKey reports whether an owner key's DER names pub.
func sameKey(der []byte, pub crypto.PublicKey) bool {
	k, err := ParseOwnerKey(der)
	return err == nil && k.Equal(pub)
}

// verifyWith checks msg's signature with pub, whose algorithm must be the
// one the message's protected header names.
func verifyWith(msg *cose.Sign1Message, pub *ecdsa.PublicKey) error {
	alg, err := algorithm(pub)
	if err != nil {
		return err
	}
	if got, err := msg.Headers.Protected.Algorithm(); err != nil || got != alg {
		return fmt.Errorf("%w: algorithm %v, the key's is %v", ErrSignature, got, alg)
	}
	v, err := cose.NewVerifier(alg, pub)
	if err != nil {
		return fmt.Errorf("ownership: %w", err)
	}
	if err := msg.Verify(nil, v); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}

// signCOSE signs payload with key as a tagged COSE_Sign1 of content type ct.
func signCOSE(key crypto.Signer, ct, kid string, payload []byte, rnd randReader) ([]byte, error) {
	alg, err := algorithm(key.Public())
	if err != nil {
		return nil, err
	}
	if len(kid) > maxKeyID {
		return nil, fmt.Errorf("ownership: name of %d bytes, limit %d", len(kid), maxKeyID)
	}
	signer, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	msg.Headers.Protected[cose.HeaderLabelContentType] = ct
	if kid != "" {
		msg.Headers.Protected[cose.HeaderLabelKeyID] = []byte(kid)
	}
	msg.Payload = payload
	if err := msg.Sign(rnd, nil, signer); err != nil {
		return nil, fmt.Errorf("ownership: signing: %w", err)
	}
	return msg.MarshalCBOR()
}
