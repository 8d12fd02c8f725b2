// Package psaclient is the non-secure client API of Rampart's Secure
// Processing Environment: the PSA Crypto API in Go style (keys are referred
// to by ID, operations run in the SPE), multi-part operations, the clients
// of the storage, attestation, firmware update, lifecycle and audit services,
// and [Signer], a crypto.Signer whose private key stays in the SPE so
// crypto/tls can use a key it never sees. The values, encodings and call
// layouts it speaks are package psa's, the contract the SPE's services share.
//
// A Client talks to the SPE through an ipc.Transport: a Unix socket
// ([Dial]) or an in-process session of the same server. It imports nothing
// under spe/. This package must never hold or cache key material it was not
// explicitly given by ExportKey, and never claim an identity: the SPE learns
// who the client is from the kernel.
package psaclient
