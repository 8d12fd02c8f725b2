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
}

// Parse decodes the envelope and the claims of a token and checks their
// syntax, without verifying the signature: use it to display a token, never
// to trust one (use Verify).
func Parse(token []byte) (*Token, error) {
	env, err := decodeEnvelope(token)
	if err != nil {
		return nil, err
	}
	c, err := UnmarshalPayload(bytes.Clone(env.payload))
	if err != nil {
		return nil, err
	}
	return &Token{Claims: c, Algorithm: env.alg}, nil
}
