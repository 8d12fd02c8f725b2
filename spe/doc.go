// Package spe is Rampart's Secure Processing Environment: a partition manager
// that hosts trusted services (crypto, storage, attestation, firmware update,
// audit, lifecycle: package platform registers them all)
// behind the call model of the PSA Firmware Framework, and the IPC server that
// lets non-secure clients reach them over a Unix socket.
//
// A service is a SID, a version with its policy, a manifest entry saying who
// may connect, and a Handler. Services plug in with [Server.Register]. Clients
// are identified by the kernel (SO_PEERCRED) and mapped to negative PSA client
// IDs by configuration; the same services can also run in the caller's own
// process ([Server.Local]) with the same frames, for simulating many devices.
//
// The SPE must never trust anything a frame says about who sent it, never
// hand a handle or key of one connection or client to another, and never let
// one hostile client stop it serving the others.
package spe
