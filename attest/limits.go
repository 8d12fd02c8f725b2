package attest

import "rampart/swcomponent"

// Size limits. The PSA claims have fixed or small sizes; these bounds keep a
// hostile token from making the verifier allocate or loop without limit. A
// TF-M token with a handful of components is well under 1 KiB.
const (
	// MaxTokenSize bounds a whole token.
	MaxTokenSize = 16 << 10
	// MaxSoftwareComponents bounds the software-components array.
	MaxSoftwareComponents = 32
	// MaxTextLen bounds every text claim and text field (profile, version,
	// measurement type and description, verification service indicator):
	// the software-component reader's bound.
	MaxTextLen = swcomponent.MaxTextLen
	// maxMapPairs bounds the claims map, unknown claims included.
	maxMapPairs = 64
	// maxNesting bounds CBOR nesting (token > claims > components > map > unknown claim values).
	maxNesting = 8
)

// Exact or ranged sizes fixed by RFC 9783 and the PSA attestation API.
const (
	InstanceIDLen       = 33 // 0x01 (UEID type RAND) || SHA-256 of the IAK
	ImplementationIDLen = 32
	minBootSeedLen      = 8
	maxBootSeedLen      = 32
	iot1BootSeedLen     = 32
)

// validHashLen reports whether n is a psa-hash size: 32, 48 or 64 bytes.
// The nonce, measurement values and signer IDs all use it.
func validHashLen(n int) bool { return n == 32 || n == 48 || n == 64 }
