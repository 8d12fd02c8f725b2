package psaclient

import (
	"rampart/ipc"
	"rampart/psa"
)

// MaxAttestTokenSize bounds the output buffer a client offers for a token.
const MaxAttestTokenSize = 4096

// Attestation is a client of the Initial Attestation service.
type Attestation struct{ s service }

// NewAttestation returns an attestation client over t. Closing it closes t.
func NewAttestation(t ipc.Transport) *Attestation {
	return &Attestation{service{t: t, sid: psa.AttestSID, version: psa.AttestVersion, name: "attestation"}}
}

// Token is psa_initial_attest_get_token: a token over challenge (32, 48 or
// 64 bytes) in the RFC 9783 profile.
func (c *Attestation) Token(challenge []byte) ([]byte, error) {
	return c.TokenProfile(challenge, psa.AttestProfileRFC9783)
}

// TokenProfile is Token in the given profile.
func (c *Attestation) TokenProfile(challenge []byte, p psa.AttestProfile) ([]byte, error) {
	out, err := c.s.call("get_token", int32(psa.AttestOpGetToken), [][]byte{challenge, {byte(p)}}, MaxAttestTokenSize)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// TokenSize is psa_initial_attest_get_token_size.
func (c *Attestation) TokenSize(challengeSize int, p psa.AttestProfile) (int, error) {
	out, err := c.s.call("get_token_size", int32(psa.AttestOpGetTokenSize),
		[][]byte{psa.AppendUint32(nil, uint32(challengeSize)), {byte(p)}}, 4)
	if err != nil {
		return 0, err
	}
	n, err := parse(&c.s, "get_token_size", out[0], psa.ParseUint32)
	return int(n), err
}

// PublicKey returns the attestation public key as an uncompressed point.
func (c *Attestation) PublicKey() ([]byte, error) {
	out, err := c.s.call("get_public_key", int32(psa.AttestOpGetPublicKey), nil, 133)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Close closes the transport.
func (c *Attestation) Close() error { return c.s.close() }
