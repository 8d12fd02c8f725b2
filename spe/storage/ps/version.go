package ps

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// Records is where PS keeps its version records: ITS, in this process
// (*its.Service) or through the partition manager (its.Client, isolation
// level 3), always under PartitionClientID.
type Records interface {
	Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error)
	Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error
	Remove(client int32, uid psa.StorageUID) error
	UIDs(client int32) ([]psa.StorageUID, error)
}

// PartitionClientID is the secure client ID under which PS keeps its version
// records in ITS.
const PartitionClientID int32 = 0x60

// Record states.
const (
	stateLive        = 1 // a replay-protected object at this version
	stateRemoved     = 2 // a tombstone of an older release: reclaimed at open
	stateUnprotected = 3 // a NO_REPLAY_PROTECTION object replaced a protected one
	stateFloor       = 4 // the client's floor (uid 0): see loadFloor
)

// record is the version record of one PS object, kept in ITS. The record of
// (client, uid 0), which names no object (uid 0 is invalid), holds the
// client's version floor instead.
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

// parseRecord decodes a record; any damage is ipc.ErrDataCorrupt.
func parseRecord(b []byte) (*record, error) {
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
	if (r.UID == 0) != (r.State == stateFloor) || r.State < stateLive || r.State > stateFloor {
		return nil, fmt.Errorf("ps: version record state %d for uid %d: %w", r.State, r.UID, ipc.ErrDataCorrupt)
	}
	return r, nil
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
	r, err := parseRecord(b)
	if err != nil {
		return nil, err
	}
	if r.Client != client || r.UID != uid {
		// A hash collision between two objects' record uids.
		return nil, fmt.Errorf("ps: version record slot taken by another object: %w", ipc.ErrInsufficientStorage)
	}
	return r, nil
}

// saveRecord writes r. created says that (client, uid) had no record before,
// so the client's count of records grows.
func (s *Service) saveRecord(r *record, created bool) error {
	if err := s.its.Set(PartitionClientID, recordUID(r.Client, r.UID), r.marshal(), 0); err != nil {
		return fmt.Errorf("ps: version record: %w", err)
	}
	if created && r.UID != 0 {
		s.records[r.Client]++
	}
	return nil
}

// deleteRecord removes (client, uid)'s record.
func (s *Service) deleteRecord(client int32, uid psa.StorageUID) error {
	err := s.its.Remove(PartitionClientID, recordUID(client, uid))
	if err != nil && !errors.Is(err, ipc.ErrDoesNotExist) {
		return fmt.Errorf("ps: version record: %w", err)
	}
	if err == nil && uid != 0 && s.records[client] > 0 {
		s.records[client]--
		if s.records[client] == 0 {
			delete(s.records, client)
		}
	}
	return nil
}

// loadFloor returns client's version floor: every version this client ever
// gave an object that has since been removed is at most the floor. An object
// with no record is judged against it: its file is stale (a removed object,
// or a replay of one) at or below the floor, the file of a set cut before its
// record at floor+1. So a removed object's record can be deleted without
// reopening replay, and one record per client replaces every tombstone.
func (s *Service) loadFloor(client int32) (uint64, error) {
	r, err := s.loadRecord(client, 0)
	if err != nil || r == nil {
		return 0, err
	}
	return r.Version, nil
}

// raiseFloor makes client's floor at least v.
func (s *Service) raiseFloor(client int32, v uint64) error {
	cur, err := s.loadFloor(client)
	if err != nil {
		return err
	}
	if v <= cur {
		return nil
	}
	return s.saveRecord(&record{Client: client, Version: v, State: stateFloor}, false)
}

// index counts every client's version records, for the per-client quota,
// and reclaims the tombstones an older release left: each raises its
// client's floor to its version (so its object's old files stay dead), and
// only then is deleted. Damaged records are left alone (their objects read
// as DATA_CORRUPT) and not counted.
func (s *Service) index() error {
	uids, err := s.its.UIDs(PartitionClientID)
	if err != nil {
		return fmt.Errorf("ps: version records: %w", err)
	}
	var tombs []*record
	for _, u := range uids {
		b, err := s.its.Get(PartitionClientID, u, 0, recordSize+1)
		if err != nil {
			continue
		}
		r, err := parseRecord(b)
		if err != nil || recordUID(r.Client, r.UID) != u {
			continue
		}
		switch r.State {
		case stateFloor:
		case stateRemoved:
			tombs = append(tombs, r)
		default:
			s.records[r.Client]++
		}
	}
	for _, r := range tombs {
		if err := s.raiseFloor(r.Client, r.Version); err != nil {
			return err
		}
	}
	for _, r := range tombs {
		if err := s.its.Remove(PartitionClientID, recordUID(r.Client, r.UID)); err != nil && !errors.Is(err, ipc.ErrDoesNotExist) {
			return fmt.Errorf("ps: reclaiming a tombstone: %w", err)
		}
	}
	return nil
}
