package psa

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
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
type StorageOp int32

// Storage operations.
const (
	StorageOpSet        StorageOp = 1
	StorageOpGet        StorageOp = 2
	StorageOpGetInfo    StorageOp = 3
	StorageOpRemove     StorageOp = 4
	StorageOpGetSupport StorageOp = 5
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
		return StorageInfo{}, fmt.Errorf("psa: storage info of %d bytes, want %d: %w", len(b), StorageInfoSize, ErrCommunicationFailure)
	}
	return StorageInfo{
		Capacity: binary.LittleEndian.Uint32(b),
		Size:     binary.LittleEndian.Uint32(b[4:]),
		Flags:    StorageFlags(binary.LittleEndian.Uint32(b[8:])),
	}, nil
}

// storageClient is the shared client of ITS and PS.
type storageClient struct{ s service }

func (c *storageClient) set(uid StorageUID, data []byte, flags StorageFlags) error {
	hdr := binary.LittleEndian.AppendUint64(nil, uint64(uid))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(flags))
	_, err := c.s.call("set", int32(StorageOpSet), [][]byte{hdr, data})
	return err
}

func (c *storageClient) get(uid StorageUID, offset uint32, size int) ([]byte, error) {
	hdr := binary.LittleEndian.AppendUint64(nil, uint64(uid))
	hdr = binary.LittleEndian.AppendUint32(hdr, offset)
	out, err := c.s.call("get", int32(StorageOpGet), [][]byte{hdr}, size)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (c *storageClient) info(uid StorageUID) (StorageInfo, error) {
	out, err := c.s.call("get_info", int32(StorageOpGetInfo), [][]byte{binary.LittleEndian.AppendUint64(nil, uint64(uid))}, StorageInfoSize)
	if err != nil {
		return StorageInfo{}, err
	}
	return ParseStorageInfo(out[0])
}

func (c *storageClient) remove(uid StorageUID) error {
	_, err := c.s.call("remove", int32(StorageOpRemove), [][]byte{binary.LittleEndian.AppendUint64(nil, uint64(uid))})
	return err
}

// ITS is a client of the Internal Trusted Storage service (PSA ITS 1.0).
// Objects are per client: the SPE keys them by the caller's kernel-derived
// client ID and the uid.
type ITS struct{ c storageClient }

// NewITS returns an ITS client over t. Closing it closes t.
func NewITS(t ipc.Transport) *ITS {
	return &ITS{storageClient{service{t: t, sid: ITSSID, version: ITSVersion, name: "its"}}}
}

// Set is psa_its_set: create or replace uid with data.
func (c *ITS) Set(uid StorageUID, data []byte, flags StorageFlags) error {
	return c.c.set(uid, data, flags)
}

// Get is psa_its_get: up to size bytes of uid from offset.
func (c *ITS) Get(uid StorageUID, offset uint32, size int) ([]byte, error) {
	return c.c.get(uid, offset, size)
}

// GetInfo is psa_its_get_info.
func (c *ITS) GetInfo(uid StorageUID) (StorageInfo, error) { return c.c.info(uid) }

// Remove is psa_its_remove.
func (c *ITS) Remove(uid StorageUID) error { return c.c.remove(uid) }

// Close closes the transport.
func (c *ITS) Close() error { return c.c.s.close() }
