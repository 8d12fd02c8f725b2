package provision

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"

	"github.com/veraison/go-cose"

	"rampart/attest"
)

// ErrEndorsementSignature is returned when a signed endorsement list does
// not verify with the manufacturer's key.
var ErrEndorsementSignature = errors.New("provision: endorsement signature does not verify")

// MaxSigned bounds a signed endorsement list read by VerifyEndorsements.
const MaxSigned = 1 << 20

func coseAlg(pub *ecdsa.PublicKey) (cose.Algorithm, error) {
	switch pub.Curve {
	case elliptic.P256():
		return cose.AlgorithmES256, nil
	case elliptic.P384():
		return cose.AlgorithmES384, nil
	}
	return 0, errors.New("provision: the manufacturer key must be ECDSA P-256 or P-384")
}

// SignEndorsements signs an endorsement list (attest's JSON file form) as
// a tagged COSE_Sign1 with content type application/json.
func SignEndorsements(list []byte, mfr crypto.Signer, rand io.Reader) ([]byte, error) {
	pub, err := ecdsaPub(mfr)
	if err != nil {
		return nil, err
	}
	alg, err := coseAlg(pub)
	if err != nil {
		return nil, err
	}
	signer, err := cose.NewSigner(alg, mfr)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	msg.Headers.Protected[cose.HeaderLabelContentType] = "application/json"
	msg.Payload = list
	if err := msg.Sign(rand, nil, signer); err != nil {
		return nil, fmt.Errorf("provision: signing the endorsement: %w", err)
	}
	return msg.MarshalCBOR()
}

// VerifyEndorsements checks a signed endorsement list with the
// manufacturer's public key and returns the list and its JSON bytes.
func VerifyEndorsements(signed []byte, mfr *ecdsa.PublicKey) (*attest.EndorsementList, []byte, error) {
	if len(signed) > MaxSigned {
		return nil, nil, fmt.Errorf("provision: signed endorsements of %d bytes: over %d", len(signed), MaxSigned)
	}
	alg, err := coseAlg(mfr)
	if err != nil {
		return nil, nil, err
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(signed); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrEndorsementSignature, err)
	}
	if got, err := msg.Headers.Protected.Algorithm(); err != nil || got != alg {
		return nil, nil, fmt.Errorf("%w: algorithm %v, want %v", ErrEndorsementSignature, got, alg)
	}
	v, err := cose.NewVerifier(alg, mfr)
	if err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	if err := msg.Verify(nil, v); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrEndorsementSignature, err)
	}
	list, err := attest.ReadEndorsements(bytes.NewReader(msg.Payload))
	if err != nil {
		return nil, nil, fmt.Errorf("provision: signed endorsements: %w", err)
	}
	return list, msg.Payload, nil
}
