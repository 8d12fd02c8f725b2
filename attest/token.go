package attest

import (
	"bytes"
	"crypto"
	"fmt"
	"io"

	"github.com/veraison/go-cose"
)

// Sign encodes claims in their profile, signs them with signer as a tagged
// COSE_Sign1 (ES256 for a P-256 key, ES384 for P-384, ES512 for P-521; the
// protected header carries only the algorithm) and returns the token.
// If claims.InstanceID is empty it is computed from the signer's public key.
// rand is passed to the signer.
func Sign(claims *Claims, signer crypto.Signer, rand io.Reader) ([]byte, error) {
	alg, err := algorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	c := *claims
	if len(c.InstanceID) == 0 {
		if c.InstanceID, err = InstanceID(signer.Public()); err != nil {
			return nil, err
		}
	}
	payload, err := c.MarshalPayload()
	if err != nil {
		return nil, err
	}
	cs, err := cose.NewSigner(alg, signer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	msg.Payload = payload
	if err := msg.Sign(rand, nil, cs); err != nil {
		return nil, fmt.Errorf("attest: signing: %w", err)
	}
	tok, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("attest: encoding COSE_Sign1: %w", err)
	}
	return tok, nil
}

// Token is a decoded token whose signature has NOT been checked.
type Token struct {
	Claims    *Claims
	Algorithm cose.Algorithm
	msg       *cose.Sign1Message
}

// Parse decodes the envelope and the claims of a token and checks their
// syntax, without verifying the signature: use it to display a token, never
// to trust one (use Verify).
func Parse(token []byte) (*Token, error) {
	msg, alg, err := decodeEnvelope(token)
	if err != nil {
		return nil, err
	}
	c, err := UnmarshalPayload(msg.Payload)
	if err != nil {
		return nil, err
	}
	return &Token{Claims: c, Algorithm: alg, msg: msg}, nil
}

var (
	sign1Prefix = []byte{0xd2}       // tag 18
	mac0Prefix  = []byte{0xd1}       // tag 17
	cwtPrefix   = []byte{0xd8, 0x3d} // tag 61
)

// decodeEnvelope checks that token is a tagged COSE_Sign1 with an ECDSA
// algorithm in its protected header, no critical headers and a payload.
func decodeEnvelope(token []byte) (*cose.Sign1Message, cose.Algorithm, error) {
	switch {
	case len(token) == 0:
		return nil, 0, fmt.Errorf("%w: empty token", ErrEnvelope)
	case len(token) > MaxTokenSize:
		return nil, 0, fmt.Errorf("%w: token is %d bytes, limit %d: %w", ErrEnvelope, len(token), MaxTokenSize, ErrOversized)
	case bytes.HasPrefix(token, mac0Prefix):
		return nil, 0, fmt.Errorf("%w: COSE_Mac0 (tag 17, symmetric attestation key) is not supported; want COSE_Sign1 (tag 18)", ErrEnvelope)
	case bytes.HasPrefix(token, cwtPrefix):
		return nil, 0, fmt.Errorf("%w: CWT tag 61 is not used by PSA tokens; want COSE_Sign1 tag 18 at the top", ErrEnvelope)
	case token[0] == 0x84:
		return nil, 0, fmt.Errorf("%w: untagged COSE_Sign1; want tag 18", ErrEnvelope)
	case !bytes.HasPrefix(token, sign1Prefix):
		return nil, 0, fmt.Errorf("%w: first byte 0x%02x is not CBOR tag 18 (COSE_Sign1)", ErrEnvelope, token[0])
	}
	// go-cose accepts trailing bytes after the message; a token must not have any.
	if n, err := itemLen(token); err != nil {
		return nil, 0, fmt.Errorf("%w: malformed CBOR: %v", ErrEnvelope, err)
	} else if n != len(token) {
		return nil, 0, fmt.Errorf("%w: %d trailing bytes after the COSE_Sign1", ErrEnvelope, len(token)-n)
	}
	msg := new(cose.Sign1Message)
	if err := msg.UnmarshalCBOR(token); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: protected header: %v", ErrEnvelope, err)
	}
	switch alg {
	case cose.AlgorithmES256, cose.AlgorithmES384, cose.AlgorithmES512:
	default:
		return nil, 0, fmt.Errorf("%w: algorithm %v, want ES256, ES384 or ES512", ErrEnvelope, alg)
	}
	if _, ok := msg.Headers.Protected[cose.HeaderLabelCritical]; ok {
		return nil, 0, fmt.Errorf("%w: critical header parameters are not supported", ErrEnvelope)
	}
	if len(msg.Payload) == 0 {
		return nil, 0, fmt.Errorf("%w: detached or empty payload", ErrEnvelope)
	}
	return msg, alg, nil
}

// itemLen returns the length of the first CBOR data item in b.
func itemLen(b []byte) (int, error) {
	var raw rawItem
	rest, err := decMode.UnmarshalFirst(b, &raw)
	if err != nil {
		return 0, err
	}
	return len(b) - len(rest), nil
}

// rawItem swallows one data item without building it.
type rawItem struct{}

func (*rawItem) UnmarshalCBOR([]byte) error { return nil }
