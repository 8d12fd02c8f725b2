package ps

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"rampart/psa"
	"rampart/spe/ipc"
)

// PartitionClientID is the secure client ID under which PS keeps its version
// records in ITS.
const PartitionClientID int32 = 0x60

// Record states.
const (
	stateLive        = 1 // a replay-protected object at this version
	stateRemoved     = 2 // removed at this version: older files are stale
	stateUnprotected = 3 // a NO_REPLAY_PROTECTION object replaced a protected one
)

// record is the version record of one PS object, kept in ITS.
type record struct {
	Client  int32
	UID     psa.StorageUID
	Version uint64
	State   byte
	Flags   psa.StorageFlags
}

const recordSize = 4 + 8 + 8 + 1 + 4

// recordUID is the ITS uid of (client, uid)'s record (never 0).
func recordUID(client int32, uid psa.StorageUID) psa.StorageUID {
	b := binary.LittleEndian.AppendUint32([]byte("rampart ps version"), uint32(client))
	b = binary.LittleEndian.AppendUint64(b, uint64(uid))
	sum := sha256.Sum256(b)
	return psa.StorageUID(binary.LittleEndian.Uint64(sum[:]) | 1)
}

func (r *record) marshal() []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(r.Client))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.UID))
	b = binary.LittleEndian.AppendUint64(b, r.Version)
	b = append(b, r.State)
	return binary.LittleEndian.AppendUint32(b, uint32(r.Flags))
}

// loadRecord returns (client, uid)'s record, or nil when there is none.
func (s *Service) loadRecord(client int32, uid psa.StorageUID) (*record, error) {
	b, err := s.its.Get(PartitionClientID, recordUID(client, uid), 0, recordSize+1)
	if errors.Is(err, ipc.ErrDoesNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ps: version record: %w", err)
	}
	if len(b) != recordSize {
		return nil, fmt.Errorf("ps: version record of %d bytes: %w", len(b), ipc.ErrDataCorrupt)
	}
	r := &record{
		Client:  int32(binary.LittleEndian.Uint32(b)),
		UID:     psa.StorageUID(binary.LittleEndian.Uint64(b[4:])),
		Version: binary.LittleEndian.Uint64(b[12:]),
		State:   b[20],
		Flags:   psa.StorageFlags(binary.LittleEndian.Uint32(b[21:])),
	}
	if r.Client != client || r.UID != uid {
		// A hash collision between two objects' record uids.
		return nil, fmt.Errorf("ps: version record slot taken by another object: %w", ipc.ErrInsufficientStorage)
	}
	if r.State < stateLive || r.State > stateUnprotected {
		return nil, fmt.Errorf("ps: version record state %d: %w", r.State, ipc.ErrDataCorrupt)
	}
	return r, nil
}

func (s *Service) saveRecord(r *record) error {
	if err := s.its.Set(PartitionClientID, recordUID(r.Client, r.UID), r.marshal(), 0); err != nil {
		return fmt.Errorf("ps: version record: %w", err)
	}
	return nil
}
