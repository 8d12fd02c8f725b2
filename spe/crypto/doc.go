// Package crypto is the SPE's PSA Crypto service: a key store with PSA key
// attributes and policies (usage flags, one permitted algorithm), keys named
// by per-client IDs, persistent keys sealed under a key derived from the
// SPE's hardware unique key, and the PSA operations on them: hash, MAC,
// cipher, AEAD, sign and verify, RSA-OAEP, key agreement, HKDF and random.
// Persistent keys of the vendor location psa.LocationRampartTPM are made
// in the SPE's TPM through a KeyVault: the store seals only their handle
// and public key, and the policy check is the same as for local keys.
//
// It runs inside the SPE behind spe.Server (SID 0x80); clients use package
// psa. It must never return key material except through export of a key
// whose policy has the EXPORT usage (never for a vault key), never let one client name, use, copy or
// destroy another client's key, and never write a key to disk unencrypted.
package crypto
