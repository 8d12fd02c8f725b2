// Package attest implements the PSA attestation token: the claims model, its
// CBOR encoding for the three profiles Rampart speaks (RFC 9783
// "tag:psacertified.org,2023:psa#tfm", TF-M's "http://arm.com/psa/2.0.0" and
// the legacy "PSA_IOT_PROFILE_1"), signing as a tagged COSE_Sign1 with any
// crypto.Signer, and the verification policy a relying party applies
// (envelope, signature, nonce, profile, claim syntax, instance ID, lifecycle).
//
// The SPE uses it to produce tokens, the fleet server and the CLI to verify
// them. It treats every token as hostile input: it never trusts a claim
// before the signature over it has been checked, never reads beyond the
// size limits in limits.go, and never holds or exports private key material
// of its own (signing goes through the caller's crypto.Signer).
package attest
