package its

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// maxListed bounds StorageOpUIDs' answer for a Client.
const maxListed = 1 << 16

// Client is ITS reached through the partition manager by a secure
// partition in another process (isolation level 3): the objects are those
// of the partition the transport calls as, whatever client argument a
// method gets (the partition manager names the caller, never the frame).
// It serves PS's version records and the audit log's anchor.
type Client struct {
	T ipc.Transport
	// Self is the partition ID the transport calls as: a method called
	// for another client is refused, so a mix-up shows at once.
	Self int32
}

func (c Client) call(client int32, op psa.StorageOp, in [][]byte, out []uint32) (*ipc.Reply, error) {
	if client != c.Self {
		return nil, fmt.Errorf("its: client %#x through the session of %#x: %w", client, c.Self, ipc.ErrNotPermitted)
	}
	rep, err := c.T.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.ITSSID, Version: psa.ITSVersion,
		Type: int32(op), In: in, OutSize: out})
	if err != nil {
		return nil, fmt.Errorf("its: %v: %w", err, ipc.ErrStorageFailure)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("its: %w", rep.Status)
	}
	return rep, nil
}

// Get is psa_its_get.
func (c Client) Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	h := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: uid, Offset: offset})
	rep, err := c.call(client, psa.StorageOpGet, [][]byte{h}, []uint32{uint32(size)})
	if err != nil {
		return nil, err
	}
	if len(rep.Out) == 0 {
		return []byte{}, nil
	}
	return append([]byte{}, rep.Out[0]...), nil
}

// Set is psa_its_set.
func (c Client) Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	h := psa.AppendStorageHeader(nil, psa.StorageOpSet, psa.StorageHeader{UID: uid, Flags: flags})
	_, err := c.call(client, psa.StorageOpSet, [][]byte{h, data}, nil)
	return err
}

// Remove is psa_its_remove.
func (c Client) Remove(client int32, uid psa.StorageUID) error {
	h := psa.AppendStorageHeader(nil, psa.StorageOpRemove, psa.StorageHeader{UID: uid})
	_, err := c.call(client, psa.StorageOpRemove, [][]byte{h}, nil)
	return err
}

// UIDs lists the partition's own uids.
func (c Client) UIDs(client int32) ([]psa.StorageUID, error) {
	rep, err := c.call(client, psa.StorageOpUIDs, nil, []uint32{maxListed})
	if err != nil {
		return nil, err
	}
	var b []byte
	if len(rep.Out) > 0 {
		b = rep.Out[0]
	}
	return decodeUIDs(b)
}

// decodeUIDs reads StorageOpUIDs' answer: little-endian 64-bit uids,
// nothing else (encodeUIDs writes it).
func decodeUIDs(b []byte) ([]psa.StorageUID, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("its: list of %d bytes: %w", len(b), ipc.ErrDataCorrupt)
	}
	uids := make([]psa.StorageUID, 0, len(b)/8)
	for ; len(b) > 0; b = b[8:] {
		uids = append(uids, psa.StorageUID(binary.LittleEndian.Uint64(b)))
	}
	return uids, nil
}

// encodeUIDs writes StorageOpUIDs' answer.
func encodeUIDs(uids []psa.StorageUID) []byte {
	b := make([]byte, 0, 8*len(uids))
	for _, u := range uids {
		b = binary.LittleEndian.AppendUint64(b, uint64(u))
	}
	return b
}
