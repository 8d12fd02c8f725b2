package psa

import (
	"encoding/binary"
	"fmt"
)

// SIDs and versions of the secure storage services (TF-M's SIDs).
const (
	ITSSID     = 0x00000070
	ITSVersion = 1
	PSSID      = 0x00000060
	PSVersion  = 1
)

// StorageUID names an object of one client (psa_storage_uid_t). 0 is invalid.
type StorageUID uint64

// StorageFlags are psa_storage_create_flags_t.
type StorageFlags uint32

// Storage flags with their PSA values.
const (
	StorageFlagNone               StorageFlags = 0
	StorageFlagWriteOnce          StorageFlags = 1
	StorageFlagNoConfidentiality  StorageFlags = 2
	StorageFlagNoReplayProtection StorageFlags = 4
)

// StorageInfo is struct psa_storage_info_t.
type StorageInfo struct {
	Capacity uint32
	Size     uint32
	Flags    StorageFlags
}

// StorageOp is a call type of the ITS and PS services. Their layout
// (docs/spe-services.md):
//
//	set:      in0 = uid u64, flags u32; in1 = data
//	get:      in0 = uid u64, offset u32; out0 = data (out size = max length)
//	get_info: in0 = uid u64; out0 = capacity u32, size u32, flags u32
//	remove:   in0 = uid u64
//	get_support (PS only): out0 = u32 support flags
//	create (PS only):       in0 = uid u64, capacity u32, flags u32
//	set_extended (PS only): in0 = uid u64, offset u32; in1 = data
type StorageOp int32

// Storage operations.
const (
	StorageOpSet         StorageOp = 1
	StorageOpGet         StorageOp = 2
	StorageOpGetInfo     StorageOp = 3
	StorageOpRemove      StorageOp = 4
	StorageOpGetSupport  StorageOp = 5
	StorageOpCreate      StorageOp = 6
	StorageOpSetExtended StorageOp = 7
	// StorageOpUIDs (Rampart, ITS only, secure partitions only): out0 =
	// the caller's own uids, u64 each. PS lists its version records with
	// it when it runs in a process of its own (isolation level 3).
	StorageOpUIDs StorageOp = 0x100
)

// StorageInfoSize is the length of an encoded StorageInfo.
const StorageInfoSize = 12

// AppendStorageInfo appends the wire form of i.
func AppendStorageInfo(b []byte, i StorageInfo) []byte {
	b = binary.LittleEndian.AppendUint32(b, i.Capacity)
	b = binary.LittleEndian.AppendUint32(b, i.Size)
	return binary.LittleEndian.AppendUint32(b, uint32(i.Flags))
}

// ParseStorageInfo decodes the wire form of a StorageInfo.
func ParseStorageInfo(b []byte) (StorageInfo, error) {
	if len(b) != StorageInfoSize {
		return StorageInfo{}, fmt.Errorf("psa: storage info of %d bytes, want %d: %w", len(b), StorageInfoSize, ErrMalformed)
	}
	return StorageInfo{
		Capacity: binary.LittleEndian.Uint32(b),
		Size:     binary.LittleEndian.Uint32(b[4:]),
		Flags:    StorageFlags(binary.LittleEndian.Uint32(b[8:])),
	}, nil
}

// StorageHeader is input vector 0 of an ITS or PS call: the object's uid
// (u64), then set's flags or get's offset (u32), little-endian.
type StorageHeader struct {
	UID      StorageUID
	Flags    StorageFlags // set
	Offset   uint32       // get, set_extended
	Capacity uint32       // create
}

// storageHeaderSize returns the header length of op, or 0 for an operation
// without a header (get_support) or an unknown one.
func storageHeaderSize(op StorageOp) int {
	switch op {
	case StorageOpSet, StorageOpGet, StorageOpSetExtended:
		return 12
	case StorageOpCreate:
		return 16
	case StorageOpGetInfo, StorageOpRemove:
		return 8
	}
	return 0
}

// AppendStorageHeader appends the header of op made of h's fields that op's
// layout names. For an operation without a header it returns b unchanged.
func AppendStorageHeader(b []byte, op StorageOp, h StorageHeader) []byte {
	if storageHeaderSize(op) == 0 {
		return b
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(h.UID))
	switch op {
	case StorageOpSet:
		b = binary.LittleEndian.AppendUint32(b, uint32(h.Flags))
	case StorageOpGet, StorageOpSetExtended:
		b = binary.LittleEndian.AppendUint32(b, h.Offset)
	case StorageOpCreate:
		b = binary.LittleEndian.AppendUint32(b, h.Capacity)
		b = binary.LittleEndian.AppendUint32(b, uint32(h.Flags))
	}
	return b
}

// ParseStorageHeader decodes input vector 0 of a call of op; it must be
// exactly as long as op's layout says.
func ParseStorageHeader(op StorageOp, b []byte) (StorageHeader, error) {
	var h StorageHeader
	n := storageHeaderSize(op)
	if n == 0 {
		return h, fmt.Errorf("psa: storage operation %d has no header: %w", int32(op), ErrMalformed)
	}
	if err := wantLen("storage header", b, n); err != nil {
		return h, err
	}
	h.UID = StorageUID(binary.LittleEndian.Uint64(b))
	switch op {
	case StorageOpSet:
		h.Flags = StorageFlags(binary.LittleEndian.Uint32(b[8:]))
	case StorageOpGet, StorageOpSetExtended:
		h.Offset = binary.LittleEndian.Uint32(b[8:])
	case StorageOpCreate:
		h.Capacity = binary.LittleEndian.Uint32(b[8:])
		h.Flags = StorageFlags(binary.LittleEndian.Uint32(b[12:]))
	}
	return h, nil
}
