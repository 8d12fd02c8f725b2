package psa

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
)

// AttestSID and AttestVersion identify the Initial Attestation service (TF-M's SID).
const (
	AttestSID     = 0x00000020
	AttestVersion = 1
)

// Challenge sizes accepted by the Initial Attestation service
// (PSA_INITIAL_ATTEST_CHALLENGE_SIZE_32/48/64).
const (
	AttestChallengeSize32 = 32
	AttestChallengeSize48 = 48
	AttestChallengeSize64 = 64
)

// AttestOp is a call type of the attestation service:
//
//	get_token:      in0 = challenge; in1 (optional) = u8 profile; out0 = token
//	get_token_size: in0 = u32 challenge size; in1 (optional) = u8 profile; out0 = u32 size
//	get_public_key: out0 = the IAK's uncompressed point (a Rampart extension)
type AttestOp int32

// Attestation operations.
const (
	AttestOpGetToken     AttestOp = 1
	AttestOpGetTokenSize AttestOp = 2
	AttestOpGetPublicKey AttestOp = 3
)

// AttestProfile selects a token profile.
type AttestProfile uint8

// Token profiles.
const (
	AttestProfileRFC9783 AttestProfile = 0 // tag:psacertified.org,2023:psa#tfm
	AttestProfileIoT1    AttestProfile = 1 // PSA_IOT_PROFILE_1
)

// MaxAttestTokenSize bounds the output buffer a client offers for a token.
const MaxAttestTokenSize = 4096

// Attestation is a client of the Initial Attestation service.
type Attestation struct{ s service }

// NewAttestation returns an attestation client over t. Closing it closes t.
func NewAttestation(t ipc.Transport) *Attestation {
	return &Attestation{service{t: t, sid: AttestSID, version: AttestVersion, name: "attestation"}}
}

// Token is psa_initial_attest_get_token: a token over challenge (32, 48 or
// 64 bytes) in the RFC 9783 profile.
func (c *Attestation) Token(challenge []byte) ([]byte, error) {
	return c.TokenProfile(challenge, AttestProfileRFC9783)
}

// TokenProfile is Token in the given profile.
func (c *Attestation) TokenProfile(challenge []byte, p AttestProfile) ([]byte, error) {
	out, err := c.s.call("get_token", int32(AttestOpGetToken), [][]byte{challenge, {byte(p)}}, MaxAttestTokenSize)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// TokenSize is psa_initial_attest_get_token_size.
func (c *Attestation) TokenSize(challengeSize int, p AttestProfile) (int, error) {
	out, err := c.s.call("get_token_size", int32(AttestOpGetTokenSize),
		[][]byte{binary.LittleEndian.AppendUint32(nil, uint32(challengeSize)), {byte(p)}}, 4)
	if err != nil {
		return 0, err
	}
	if len(out[0]) != 4 {
		return 0, fmt.Errorf("psa: attestation get_token_size: %d bytes: %w", len(out[0]), ErrCommunicationFailure)
	}
	return int(binary.LittleEndian.Uint32(out[0])), nil
}

// PublicKey returns the attestation public key as an uncompressed point.
func (c *Attestation) PublicKey() ([]byte, error) {
	out, err := c.s.call("get_public_key", int32(AttestOpGetPublicKey), nil, 133)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Close closes the transport.
func (c *Attestation) Close() error { return c.s.close() }
