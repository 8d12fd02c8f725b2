package its

import (
	"errors"
	"fmt"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
)

// Default limits (per client). TF-M's defaults are 10 assets of 512 bytes;
// Rampart's are larger because it runs on a gateway, not a microcontroller.
const (
	DefaultMaxAssetSize = 4096
	DefaultMaxAssets    = 64
)

// Limits bound what one client may store.
type Limits struct {
	MaxAssetSize int // bytes per object; 0 means DefaultMaxAssetSize
	MaxAssets    int // objects per client; 0 means DefaultMaxAssets
	// MaxSecureAssets bounds the objects of each secure client (ID > 0,
	// e.g. PS's version records); 0 means DefaultMaxSecureAssets.
	MaxSecureAssets int
}

// DefaultMaxSecureAssets is the default object limit of a secure client.
const DefaultMaxSecureAssets = 4096

// Service is the ITS RoT Service. It is safe for concurrent use.
type Service struct {
	mu   sync.Mutex
	st   storage.Backend
	lim  Limits
	down bool // set by Shutdown (decommissioning)
}

// New returns an ITS service keeping its objects in st: a directory of
// files (storage.Store) or an area of the device's flash (storage.FlashStore).
func New(st storage.Backend, lim Limits) *Service {
	if lim.MaxAssetSize <= 0 {
		lim.MaxAssetSize = DefaultMaxAssetSize
	}
	if lim.MaxAssets <= 0 {
		lim.MaxAssets = DefaultMaxAssets
	}
	if lim.MaxSecureAssets <= 0 {
		lim.MaxSecureAssets = DefaultMaxSecureAssets
	}
	return &Service{st: st, lim: lim}
}

// errDown answers every call once the service is shut down.
var errDown = fmt.Errorf("its: decommissioned: %w", ipc.ErrBadState)

// Shutdown is decommissioning in the running SPE: every later call answers
// PSA_ERROR_BAD_STATE (the objects themselves are destroyed with the
// store). It waits for a call in progress and is idempotent.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
}

// Store returns the backing store (for decommissioning).
func (s *Service) Store() storage.Backend { return s.st }

// allowedFlags are the creation flags ITS accepts (the PS-only flags are
// accepted and have no effect, as in TF-M).
const allowedFlags = psa.StorageFlagWriteOnce | psa.StorageFlagNoConfidentiality | psa.StorageFlagNoReplayProtection

// load reads (client, uid); a missing object is ipc.ErrDoesNotExist.
func (s *Service) load(client int32, uid psa.StorageUID) (*object, error) {
	b, err := s.st.Get(objName(client, uid))
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("its: uid %d: %w", uid, ipc.ErrDoesNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("its: uid %d: %v: %w", uid, err, ipc.ErrStorageFailure)
	}
	return parseObject(b)
}

// loadLocked is load under the service's lock, refused once shut down.
func (s *Service) loadLocked(client int32, uid psa.StorageUID) (*object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	return s.load(client, uid)
}

// UIDs returns the uids of client's objects, for secure code in the SPE
// (PS indexes its version records with it); no call over IPC lists a
// namespace.
func (s *Service) UIDs(client int32) ([]psa.StorageUID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	names, err := s.st.List(clientPrefix(client))
	if err != nil {
		return nil, fmt.Errorf("its: %v: %w", err, ipc.ErrStorageFailure)
	}
	uids := make([]psa.StorageUID, 0, len(names))
	for _, n := range names {
		var c uint32
		var u uint64
		if _, err := fmt.Sscanf(n, "%08x-%016x", &c, &u); err == nil && int32(c) == client && objName(client, psa.StorageUID(u)) == n {
			uids = append(uids, psa.StorageUID(u))
		}
	}
	return uids, nil
}

// Set is psa_its_set for client.
func (s *Service) Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	if uid == 0 {
		return fmt.Errorf("its: uid 0: %w", ipc.ErrInvalidArgument)
	}
	if flags&^allowedFlags != 0 {
		return fmt.Errorf("its: flags 0x%x: %w", uint32(flags), ipc.ErrNotSupported)
	}
	if len(data) > s.lim.MaxAssetSize {
		return fmt.Errorf("its: data of %d bytes over the %d-byte limit: %w", len(data), s.lim.MaxAssetSize, ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	old, err := s.load(client, uid)
	switch {
	case err == nil:
		if old.Flags&psa.StorageFlagWriteOnce != 0 {
			return fmt.Errorf("its: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
		}
	case errors.Is(err, ipc.ErrDoesNotExist):
		names, lerr := s.st.List(clientPrefix(client))
		if lerr != nil {
			return fmt.Errorf("its: %v: %w", lerr, ipc.ErrStorageFailure)
		}
		max := s.lim.MaxAssets
		if client > 0 {
			max = s.lim.MaxSecureAssets
		}
		if len(names) >= max {
			return fmt.Errorf("its: client holds %d objects, the limit: %w", len(names), ipc.ErrInsufficientStorage)
		}
	case errors.Is(err, ipc.ErrDataCorrupt):
		// A damaged object may be replaced, unless it could have been
		// write-once: we cannot tell, so refuse to be safe.
		return err
	default:
		return err
	}
	o := object{Flags: flags, Data: data}
	if err := s.st.Put(objName(client, uid), o.marshal()); err != nil {
		if errors.Is(err, storage.ErrNoSpace) {
			// The flash area is full (the store is unchanged): the caller
			// may remove objects and retry, as at its own quota.
			return fmt.Errorf("its: %v: %w", err, ipc.ErrInsufficientStorage)
		}
		return fmt.Errorf("its: %v: %w", err, ipc.ErrStorageFailure)
	}
	return nil
}

// Get is psa_its_get: min(size, len-offset) bytes from offset.
func (s *Service) Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	if uid == 0 {
		return nil, fmt.Errorf("its: uid 0: %w", ipc.ErrInvalidArgument)
	}
	o, err := s.loadLocked(client, uid)
	if err != nil {
		return nil, err
	}
	if uint64(offset) > uint64(len(o.Data)) {
		return nil, fmt.Errorf("its: offset %d past the %d-byte object: %w", offset, len(o.Data), ipc.ErrInvalidArgument)
	}
	d := o.Data[offset:]
	if size < len(d) {
		d = d[:size]
	}
	return d, nil
}

// GetInfo is psa_its_get_info.
func (s *Service) GetInfo(client int32, uid psa.StorageUID) (psa.StorageInfo, error) {
	if uid == 0 {
		return psa.StorageInfo{}, fmt.Errorf("its: uid 0: %w", ipc.ErrInvalidArgument)
	}
	o, err := s.loadLocked(client, uid)
	if err != nil {
		return psa.StorageInfo{}, err
	}
	return psa.StorageInfo{Capacity: uint32(len(o.Data)), Size: uint32(len(o.Data)), Flags: o.Flags}, nil
}

// Remove is psa_its_remove. A damaged object (DATA_CORRUPT) can be
// removed, even if it was write-once: it can never be read again anyway.
func (s *Service) Remove(client int32, uid psa.StorageUID) error {
	if uid == 0 {
		return fmt.Errorf("its: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	o, err := s.load(client, uid)
	switch {
	case errors.Is(err, ipc.ErrDataCorrupt):
		// A damaged object is unreadable whatever its flags were: removing
		// it is the only way for its owner to recover the uid.
	case err != nil:
		return err
	case o.Flags&psa.StorageFlagWriteOnce != 0:
		return fmt.Errorf("its: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
	}
	if err := s.st.Delete(objName(client, uid)); err != nil {
		return fmt.Errorf("its: %v: %w", err, ipc.ErrStorageFailure)
	}
	return nil
}
