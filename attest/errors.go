package attest

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers can classify failures with errors.Is.
var (
	// ErrEnvelope: the token is not a well-formed tagged COSE_Sign1.
	ErrEnvelope = errors.New("attest: bad token envelope")
	// ErrSignature: the signature does not verify with the key.
	ErrSignature = errors.New("attest: signature verification failed")
	// ErrNonce: the nonce claim differs from the challenge.
	ErrNonce = errors.New("attest: nonce mismatch")
	// ErrProfile: the profile is missing, unknown or not accepted.
	ErrProfile = errors.New("attest: unsupported profile")
	// ErrMissingClaim: a claim the profile makes mandatory is absent.
	ErrMissingClaim = errors.New("missing mandatory claim")
	// ErrClaimSyntax: a claim has the wrong type, size or format.
	ErrClaimSyntax = errors.New("bad claim syntax")
	// ErrOversized: the token or a claim exceeds Rampart's size limits.
	ErrOversized = errors.New("exceeds size limit")
	// ErrLifecycle: the security lifecycle is not one a verifier may trust.
	ErrLifecycle = errors.New("attest: security lifecycle not trustworthy")
	// ErrInstanceID: the instance ID does not identify the verification key.
	ErrInstanceID = errors.New("attest: instance ID does not match the key")
	// ErrUnknownKey: no verification key is known for the token.
	ErrUnknownKey = errors.New("attest: no verification key for this token")
	// ErrKey: a key is unusable (wrong type, curve or encoding).
	ErrKey = errors.New("attest: unusable key")
	// ErrEndorsement: the token contradicts the endorsement of its key.
	ErrEndorsement = errors.New("attest: token contradicts its endorsement")
)

// ClaimError names the claim (or software-component field) that was wrong.
type ClaimError struct {
	Claim string // e.g. "nonce", "software-components[1].signer-id"
	Err   error  // ErrMissingClaim, ErrClaimSyntax or ErrOversized, possibly wrapped
	// Detail says what was found and what was wanted.
	Detail string
}

func (e *ClaimError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("attest: claim %s: %v", e.Claim, e.Err)
	}
	return fmt.Sprintf("attest: claim %s: %v: %s", e.Claim, e.Err, e.Detail)
}

func (e *ClaimError) Unwrap() error { return e.Err }

func claimErr(claim string, sentinel error, format string, args ...any) error {
	return &ClaimError{Claim: claim, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

func missing(claim string) error {
	return &ClaimError{Claim: claim, Err: ErrMissingClaim}
}
