// Package attestation is the SPE's Initial Attestation service (SID 0x20):
// it holds the initial attestation key (IAK), generated inside the SPE at
// provisioning and kept sealed under the hardware unique key, and signs PSA
// tokens (package attest) over a verifier's challenge with the caller's
// client ID, the implementation ID, the instance ID, the security
// lifecycle, a boot seed, the certification reference and the software
// components the bootloader measured.
//
// It must never export the private IAK (there is no call that returns it),
// never sign a challenge that is not 32, 48 or 64 bytes, never put a client
// ID in a token other than the one the kernel gave the caller, and never
// issue a token outside the secured and debug lifecycle states.
package attestation
