// Package psa is the non-secure client API of Rampart's Secure Processing
// Environment: the PSA Crypto API in Go style (keys are referred to by ID,
// operations run in the SPE), its constants with the PSA numeric values, the
// crypto service's call layout, and [Signer], a crypto.Signer whose private
// key stays in the SPE so crypto/tls can use a key it never sees.
//
// A Client talks to the SPE through an ipc.Transport: a Unix socket
// ([Dial]) or an in-process session of the same server. This package must
// never hold or cache private key material it was not explicitly given by
// ExportKey, and never claim an identity: the SPE learns who the client is
// from the kernel.
package psa
