// Package hsm reaches long-lived keys held in a PKCS#11 token (an HSM, a
// smart card, SoftHSM2) named by an RFC 7512 "pkcs11:" URI, and gives them
// as a crypto.Signer (ECDSA P-256/P-384, Ed25519, RSA-PSS), so the fleet CA,
// release and manufacturer keys can be used where a key file is today.
//
// The URI parser is pure Go; the token is reached through the module's C
// interface (cgo, dlopen), so a build without cgo has the parser and
// returns ErrNoCgo from Open.
//
// It must never take a PIN from the URI or the command line (pin-value is
// refused: command lines are visible to every user of the machine), never
// read a private key's value out of the token, and never create a key that
// the token would let out (imports are sensitive and non-extractable).
package hsm
