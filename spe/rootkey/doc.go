// Package rootkey is the root key partition: at isolation level 3 it is
// the only process that holds the hardware unique key (HUK). The other
// platform partitions (crypto's key store, PS's object keys, the sealing
// keys of the attestation key and the audit key) ask it for the keys they
// derive from the HUK, each by a label it is granted, through the
// partition manager (SID psa.RootKeySID).
//
// It must never return the HUK itself, never derive a label for a caller
// it is not granted to (a grant is per partition ID, which the partition
// manager sets), and never answer a non-secure client.
package rootkey
