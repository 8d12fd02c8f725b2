// Package rot is the SPE's hardware root of trust on a TPM 2.0: the
// hardware unique key as a TPM-resident HMAC key from which the SPE's
// sealing root is derived, the initial attestation key as a TPM-resident,
// non-exportable P-256 signing key, the PSA keys clients create in the TPM
// (ECDSA P-256/P-384, persistent handles 0x81520100-0x815201ff), a PCR that
// measured boot extends, and the clearing of these objects at
// decommissioning.
//
// Both keys are persistent objects of the owner hierarchy, created inside
// the TPM (sensitiveDataOrigin, fixedTPM, fixedParent) under the TPM's
// storage root key: no blob of them is ever on disk, so a copy of the
// state directory opens nothing on any other TPM, and evicting them
// (Clear) destroys them for good.
//
// It must never ask the TPM for a key's sensitive part (none is
// exportable), never write anything of the keys to disk, and never accept
// a TPM response that is not the size its header says.
package rot
