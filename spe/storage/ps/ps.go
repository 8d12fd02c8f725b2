package ps

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"rampart/psa"
	"rampart/spe"
	"rampart/spe/ipc"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

// Default limits (per client).
const (
	DefaultMaxAssetSize = 16384
	DefaultMaxAssets    = 64
)

// Options configures the PS service.
type Options struct {
	Store  *storage.Store // the sealed object files
	ITS    *its.Service   // where version records are kept
	HUK    []byte         // the hardware unique key (32 bytes)
	Rand   io.Reader      // nonces; nil means crypto/rand
	Limits its.Limits     // per-client limits; zeros mean the defaults above
}

// Service is the PS RoT Service. It is safe for concurrent use.
type Service struct {
	mu   sync.Mutex
	st   *storage.Store
	its  *its.Service
	huk  []byte
	rand io.Reader
	lim  its.Limits
	down bool // set by Shutdown (decommissioning)
}

// New returns a PS service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.ITS == nil {
		return nil, errors.New("ps: a store and an ITS service are required")
	}
	if len(opt.HUK) != 32 {
		return nil, fmt.Errorf("ps: hardware unique key of %d bytes, want 32", len(opt.HUK))
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Limits.MaxAssetSize <= 0 {
		opt.Limits.MaxAssetSize = DefaultMaxAssetSize
	}
	if opt.Limits.MaxAssets <= 0 {
		opt.Limits.MaxAssets = DefaultMaxAssets
	}
	return &Service{st: opt.Store, its: opt.ITS, huk: append([]byte(nil), opt.HUK...), rand: opt.Rand, lim: opt.Limits}, nil
}

// errDown answers every call once the service is shut down.
var errDown = fmt.Errorf("ps: decommissioned: %w", ipc.ErrBadState)

// Shutdown is decommissioning in the running SPE: it overwrites PS's copy
// of the hardware unique key and makes every later call answer
// PSA_ERROR_BAD_STATE. It waits for a call in progress and is idempotent.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.huk)
	s.down = true
}

// Store returns the backing store (for decommissioning).
func (s *Service) Store() *storage.Store { return s.st }

func objName(client int32, uid psa.StorageUID) string {
	return fmt.Sprintf("%08x-%016x", uint32(client), uint64(uid))
}

const allowedFlags = psa.StorageFlagWriteOnce | psa.StorageFlagNoConfidentiality | psa.StorageFlagNoReplayProtection

// current resolves (client, uid): the authentic current object, or
// ErrDoesNotExist, or the error that makes it unreadable. It rolls a set
// interrupted between the file and its record forward. Call with s.mu held.
// rec is the (possibly updated) record.
func (s *Service) current(client int32, uid psa.StorageUID) (o *sealed, rec *record, err error) {
	rec, err = s.loadRecord(client, uid)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.st.Get(objName(client, uid))
	if errors.Is(err, storage.ErrNotExist) {
		if rec != nil && rec.State == stateLive {
			return nil, rec, fmt.Errorf("ps: uid %d: backing file missing: %w", uid, ipc.ErrDataCorrupt)
		}
		return nil, rec, fmt.Errorf("ps: uid %d: %w", uid, ipc.ErrDoesNotExist)
	}
	if err != nil {
		return nil, rec, fmt.Errorf("ps: uid %d: %v: %w", uid, err, ipc.ErrStorageFailure)
	}
	o, err = open(s.huk, client, uid, b)
	if err != nil {
		return nil, rec, err
	}
	var rv uint64
	if rec != nil {
		rv = rec.Version
	}
	noReplay := o.Flags&psa.StorageFlagNoReplayProtection != 0
	switch {
	case o.Version != 0 && o.Version == rv+1:
		// The file of a set whose record did not reach ITS before a power
		// cut: only the SPE can make an authentic file, so roll forward.
		nr := &record{Client: client, UID: uid, Version: o.Version, State: stateLive, Flags: o.Flags}
		if noReplay {
			nr.State = stateUnprotected
		}
		if err := s.saveRecord(nr); err != nil {
			return nil, rec, err
		}
		return o, nr, nil
	case rec == nil:
		if noReplay && o.Version == 0 {
			return o, nil, nil
		}
		return nil, nil, fmt.Errorf("ps: uid %d: file version %d has no version record (replayed?): %w", uid, o.Version, ipc.ErrDataCorrupt)
	case rec.State == stateRemoved && o.Version <= rv:
		// A removal cut before the file went, or a replay of a removed object.
		_ = s.st.Delete(objName(client, uid))
		return nil, rec, fmt.Errorf("ps: uid %d: %w", uid, ipc.ErrDoesNotExist)
	case o.Version == rv && (rec.State == stateUnprotected) == noReplay && rec.State != stateRemoved:
		return o, rec, nil
	}
	return nil, rec, fmt.Errorf("ps: uid %d: file version %d, recorded %d (replayed?): %w", uid, o.Version, rv, ipc.ErrDataCorrupt)
}

// Set is psa_ps_set.
func (s *Service) Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	if uid == 0 {
		return fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	if flags&^allowedFlags != 0 {
		return fmt.Errorf("ps: flags 0x%x: %w", uint32(flags), ipc.ErrNotSupported)
	}
	if len(data) > s.lim.MaxAssetSize {
		return fmt.Errorf("ps: data of %d bytes over the %d-byte limit: %w", len(data), s.lim.MaxAssetSize, ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	old, rec, err := s.current(client, uid)
	var bump uint64 = 1
	switch {
	case err == nil:
		if old.Flags&psa.StorageFlagWriteOnce != 0 {
			return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
		}
	case errors.Is(err, ipc.ErrDoesNotExist):
		names, lerr := s.st.List(fmt.Sprintf("%08x-", uint32(client)))
		if lerr != nil {
			return fmt.Errorf("ps: %v: %w", lerr, ipc.ErrStorageFailure)
		}
		if len(names) >= s.lim.MaxAssets {
			return fmt.Errorf("ps: client holds %d objects, the limit: %w", len(names), ipc.ErrInsufficientStorage)
		}
	case errors.Is(err, ipc.ErrInvalidSignature), errors.Is(err, ipc.ErrDataCorrupt):
		// A damaged or replayed file is replaced, unless the record says the
		// object is write-once. Skip a version so that an authentic file of
		// an unacknowledged set cannot collide with the new one.
		if rec != nil && rec.State == stateLive && rec.Flags&psa.StorageFlagWriteOnce != 0 {
			return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
		}
		bump = 2
	default:
		return err
	}
	var version uint64
	if rec != nil || flags&psa.StorageFlagNoReplayProtection == 0 {
		if rec != nil {
			version = rec.Version
		}
		version += bump
	}
	o := &sealed{Flags: flags, Version: version, Client: client, UID: uid, Data: data}
	b, err := seal(s.huk, o, s.rand)
	if err != nil {
		return fmt.Errorf("ps: %v: %w", err, ipc.ErrStorageFailure)
	}
	if err := s.st.Put(objName(client, uid), b); err != nil {
		return fmt.Errorf("ps: %v: %w", err, ipc.ErrStorageFailure)
	}
	if version == 0 {
		return nil
	}
	nr := &record{Client: client, UID: uid, Version: version, State: stateLive, Flags: flags}
	if flags&psa.StorageFlagNoReplayProtection != 0 {
		nr.State = stateUnprotected
	}
	return s.saveRecord(nr)
}

// Get is psa_ps_get.
func (s *Service) Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	if uid == 0 {
		return nil, fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return nil, errDown
	}
	o, _, err := s.current(client, uid)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if uint64(offset) > uint64(len(o.Data)) {
		return nil, fmt.Errorf("ps: offset %d past the %d-byte object: %w", offset, len(o.Data), ipc.ErrInvalidArgument)
	}
	d := o.Data[offset:]
	if size < len(d) {
		d = d[:size]
	}
	return d, nil
}

// GetInfo is psa_ps_get_info.
func (s *Service) GetInfo(client int32, uid psa.StorageUID) (psa.StorageInfo, error) {
	if uid == 0 {
		return psa.StorageInfo{}, fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return psa.StorageInfo{}, errDown
	}
	o, _, err := s.current(client, uid)
	s.mu.Unlock()
	if err != nil {
		return psa.StorageInfo{}, err
	}
	return psa.StorageInfo{Capacity: uint32(len(o.Data)), Size: uint32(len(o.Data)), Flags: o.Flags}, nil
}

// Remove is psa_ps_remove. The version record becomes a tombstone first, so
// neither a power cut nor a replayed file brings the object back.
func (s *Service) Remove(client int32, uid psa.StorageUID) error {
	if uid == 0 {
		return fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	o, rec, err := s.current(client, uid)
	if err != nil {
		return err
	}
	if o.Flags&psa.StorageFlagWriteOnce != 0 {
		return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
	}
	if rec != nil {
		if err := s.saveRecord(&record{Client: client, UID: uid, Version: rec.Version + 1, State: stateRemoved}); err != nil {
			return err
		}
	}
	if err := s.st.Delete(objName(client, uid)); err != nil {
		return fmt.Errorf("ps: %v: %w", err, ipc.ErrStorageFailure)
	}
	return nil
}

// Manifest declares the PS partition: one stateless service at TF-M's SID.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_PS",
	Type:             spe.ApplicationRoT,
	Services: []spe.ServiceManifest{{
		Name: "PS", SID: psa.PSSID, Version: psa.PSVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Register adds the PS partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"PS": s})
}

// Call dispatches one PS call (the ITS layout, plus get_support).
func (s *Service) Call(m *spe.Message) ipc.Status {
	if psa.StorageOp(m.Type) == psa.StorageOpGetSupport {
		if m.NumIn() != 0 || len(m.OutSize) != 1 {
			return ipc.ErrProgrammerError
		}
		return m.Write(0, binary.LittleEndian.AppendUint32(nil, 0))
	}
	r, st := its.Decode(m)
	if st != ipc.Success {
		return st
	}
	return its.Serve(s, m, r)
}
