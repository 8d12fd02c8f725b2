// Package enroll is Rampart's attestation-gated onboarding, both sides of it.
//
// The protocol (docs/fleet-enrollment.md) is RFC 7030 (EST) shaped: the
// device fetches a server nonce, builds a CSR, asks its attestation service
// for a PSA token whose nonce claim is Binding(serverNonce, CSR public key) =
// SHA-256(serverNonce || SubjectPublicKeyInfo DER), and posts the CSR to
// /.well-known/est/simpleenroll with the token and the server nonce in two
// headers. The server (Service) verifies the token against the endorsed
// attestation key found by instance ID, the binding, the security lifecycle,
// every software measurement against registered releases and the device's
// fleet state; only then does it issue a certificate, record it, and answer.
//
// The client side (Client) is small and imports nothing of the server, so the
// device agent can use it. The package must never issue a certificate it has
// not recorded first, never accept a server nonce twice, and never trust a
// claim of a token before attest.Verify has checked its signature.
package enroll
