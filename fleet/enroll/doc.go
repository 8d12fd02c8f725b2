// Package enroll is the server side of Rampart's attestation-gated
// onboarding: the Service that decides who gets a device certificate.
//
// The protocol (docs/fleet-enrollment.md) is package deviceproto's: the
// device fetches a server nonce, builds a CSR, asks its attestation service
// for a PSA token whose nonce claim is deviceproto.Binding(serverNonce, CSR
// public key), and posts the CSR with the token and the server nonce. The
// Service verifies the token against the endorsed attestation key found by
// instance ID, the binding, the security lifecycle, every software
// measurement against registered releases and the device's fleet state;
// only then does it issue a certificate, record it, and answer. The
// device's side (deviceproto.Client) is not here, so that a device links
// none of the server.
//
// The package must never issue a certificate it has not recorded first,
// never accept a server nonce twice, and never trust a claim of a token
// before attest.Verify has checked its signature.
package enroll
