package attest

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"fmt"

	"rampart/internal/cborscan"
)

// VerifyOptions say what a token must satisfy. Exactly one of Key and Lookup
// must be set.
type VerifyOptions struct {
	// Key is the attestation public key the token must be signed with.
	Key crypto.PublicKey
	// Lookup finds the endorsement of the key by the token's instance ID
	// (claim-based key identification, RFC 9783). A nil
	// endorsement or an error fails verification.
	Lookup func(instanceID []byte) (*Endorsement, error)
	// Nonce is the challenge the token must carry: 32, 48 or 64 bytes.
	Nonce []byte
	// Profiles restricts the accepted profiles; nil accepts all of Profiles.
	Profiles []Profile
	// AllowInstanceIDMismatch accepts a token whose instance ID is not
	// 0x01 || SHA-256 of Key (e.g. RFC 9783's example, whose instance ID is a
	// placeholder). It has no effect with Lookup, where the instance ID is
	// what selected the key.
	AllowInstanceIDMismatch bool
}

// Verify checks token against opts, in this order: the envelope (tagged
// COSE_Sign1, ECDSA algorithm), the key (given, or found by instance ID),
// the signature, the claims' syntax for their profile, the profile, the
// nonce, the instance ID against the key, the implementation ID against the
// endorsement, and the security lifecycle (only secured and non-PSA-RoT
// debug pass). Unknown claims are ignored. It returns the claims only if
// every check passes; errors wrap the sentinels in errors.go.
func Verify(token []byte, opts VerifyOptions) (*Claims, error) {
	if !validHashLen(len(opts.Nonce)) {
		return nil, fmt.Errorf("%w: the expected nonce is %d bytes, want 32, 48 or 64", ErrNonce, len(opts.Nonce))
	}
	if (opts.Key == nil) == (opts.Lookup == nil) {
		return nil, fmt.Errorf("%w: set exactly one of VerifyOptions.Key and VerifyOptions.Lookup", ErrUnknownKey)
	}
	env, err := decodeEnvelope(token)
	if err != nil {
		return nil, err
	}
	// The claims must not alias the caller's token buffer. The map is split
	// once: with Lookup before the signature, only to read the instance ID,
	// and the claims are built from that split after the signature.
	payload := bytes.Clone(env.payload)
	var (
		buf [16]cborscan.Entry
		m   []cborscan.Entry
		p   Profile
	)
	key := opts.Key
	var end *Endorsement
	if opts.Lookup != nil {
		if m, p, err = splitClaims(payload, buf[:0]); err != nil {
			return nil, err
		}
		id, err := instanceIDOf(m, p)
		if err != nil {
			return nil, err
		}
		end, err = opts.Lookup(id)
		if err != nil {
			return nil, fmt.Errorf("%w: instance ID %x: %w", ErrUnknownKey, id, err)
		}
		if end == nil || end.PublicKey == nil {
			return nil, fmt.Errorf("%w: instance ID %x is not endorsed", ErrUnknownKey, id)
		}
		key = end.PublicKey
	}
	if err := env.verifySignature(key); err != nil {
		return nil, err
	}
	if m == nil {
		if m, p, err = splitClaims(payload, buf[:0]); err != nil {
			return nil, err
		}
	}
	c, err := claimsFromMap(m, p)
	if err != nil {
		return nil, err
	}
	if !profileAccepted(c.Profile, opts.Profiles) {
		return nil, fmt.Errorf("%w: %q is not among the accepted profiles %q", ErrProfile, c.Profile, opts.Profiles)
	}
	if len(c.Nonce) != len(opts.Nonce) || subtle.ConstantTimeCompare(c.Nonce, opts.Nonce) != 1 {
		return nil, fmt.Errorf("%w: claim nonce is %x, want %x", ErrNonce, c.Nonce, opts.Nonce)
	}
	if end != nil {
		if !bytes.Equal(c.InstanceID, end.InstanceID) {
			return nil, fmt.Errorf("%w: claim instance-id %x, endorsement %x", ErrInstanceID, c.InstanceID, end.InstanceID)
		}
		if len(end.ImplementationID) > 0 && !bytes.Equal(c.ImplementationID, end.ImplementationID) {
			return nil, fmt.Errorf("%w: claim implementation-id %x, endorsed %x", ErrEndorsement, c.ImplementationID, end.ImplementationID)
		}
	} else if !opts.AllowInstanceIDMismatch {
		want, err := instanceIDOfKey(key)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(c.InstanceID, want) {
			return nil, fmt.Errorf("%w: claim instance-id %x, key gives %x", ErrInstanceID, c.InstanceID, want)
		}
	}
	if !c.Lifecycle.Trustworthy() {
		return nil, fmt.Errorf("%w: claim security-lifecycle is %v, want secured or non-psa-rot-debug", ErrLifecycle, c.Lifecycle)
	}
	return c, nil
}

func profileAccepted(p Profile, accepted []Profile) bool {
	if accepted == nil {
		return p.Known()
	}
	for _, q := range accepted {
		if p == q {
			return true
		}
	}
	return false
}

// splitClaims splits a payload into its claims and finds its profile.
func splitClaims(payload []byte, dst []cborscan.Entry) ([]cborscan.Entry, Profile, error) {
	m, err := decodeClaimsMap(payload, dst)
	if err != nil {
		return nil, "", err
	}
	p, err := detectProfile(m)
	if err != nil {
		return nil, "", err
	}
	return m, p, nil
}

// instanceIDOf reads the instance ID from an unverified, split payload,
// only to find the key: nothing else is read before the signature is
// checked.
func instanceIDOf(m []cborscan.Entry, p Profile) ([]byte, error) {
	id, err := getBytes(m, p.keys().instanceID, nameInstanceID, true)
	if err != nil {
		return nil, err
	}
	if len(id) != InstanceIDLen || id[0] != 0x01 {
		return nil, claimErr(nameInstanceID, ErrClaimSyntax, "want %d bytes starting with 0x01 (UEID type RAND), got %d bytes", InstanceIDLen, len(id))
	}
	return id, nil
}
