package psa

// RootKeySID and RootKeyVersion identify Rampart's root key service: the
// partition that holds the hardware unique key at isolation level 3 and
// hands the other platform partitions the keys they derive from it. Only
// secure partitions may call it (docs/spe-isolation.md).
const (
	RootKeySID     = 0x0000f103
	RootKeyVersion = 1
)

// RootKeyOp is a call type of the root key service:
//
//	derive: in0 = label (1..256 bytes); out0 = HKDF-SHA256(HUK, label), 32 bytes
//	retire: no vectors (the lifecycle partition only): forget the HUK for good
type RootKeyOp int32

// Root key operations.
const (
	RootKeyOpDerive RootKeyOp = 1
	RootKeyOpRetire RootKeyOp = 2
)

// RootKeySize is the length of a derived key.
const RootKeySize = 32
