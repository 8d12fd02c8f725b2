// Package ipc is the wire contract between non-secure clients and Rampart's
// Secure Processing Environment: PSA status codes, the length-prefixed binary
// frames of the PSA Firmware Framework call model (version, connect, call,
// close, stateless call) and the client end of a connection.
//
// It is shared by the SPE (package spe) and the non-secure client API (package
// psaclient) so both sides encode and decode exactly the same bytes;
// docs/spe-ipc.md is its specification. It sits outside spe/ so that a client
// imports nothing of the secure side. It must never carry identity: who a caller is comes
// from the kernel on the server side, never from anything in a frame, and
// nothing in this package holds keys or secrets.
package ipc
