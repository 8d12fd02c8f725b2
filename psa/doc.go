// Package psa is the PSA contract that Rampart's non-secure clients and its
// Secure Processing Environment share: what the PSA Certified APIs define and
// both sides must agree on, with the PSA numeric values. That is the key
// types, algorithms, usages, lifetimes and key IDs; [KeyAttributes] and its
// encoding; the PSA export formats of public keys and ECDSA signatures;
// storage UIDs, flags and info; FWU component states and their encoding;
// every RoT Service's SID, version, operation codes and call layouts (the
// headers in input vector 0, such as [CryptoHeader], and the scalar vectors),
// written once here so that the client (package psaclient) encodes and the
// services under spe/ decode with the same code; and the PSA status codes,
// re-exported from package ipc.
//
// It is imported by both sides of the boundary, so it must never do I/O,
// never hold or see key material beyond the bytes a caller hands to a
// codec, and never depend on either side: it imports only ipc.
package psa
