package ps

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
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
	Store *storage.Store // the sealed object files
	ITS   Records        // where version records are kept (ITS)
	HUK   []byte         // the hardware unique key (32 bytes), or:
	// Keys, instead of HUK, derives the object keys elsewhere (the root
	// key partition at isolation level 3): PS then never holds the HUK.
	Keys   KeySource
	Rand   io.Reader  // nonces; nil means crypto/rand
	Limits its.Limits // per-client limits; zeros mean the defaults above
}

// Service is the PS RoT Service. It is safe for concurrent use.
type Service struct {
	mu   sync.Mutex
	st   *storage.Store
	its  Records
	huk  []byte // nil with Options.Keys
	keys KeySource
	rand io.Reader
	lim  its.Limits
	down bool // set by Shutdown (decommissioning)
	// records counts each client's version records (its quota is
	// lim.MaxAssets, like its objects).
	records map[int32]int
}

// New returns a PS service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.ITS == nil {
		return nil, errors.New("ps: a store and an ITS service are required")
	}
	if opt.Keys == nil && len(opt.HUK) != 32 {
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
	s := &Service{st: opt.Store, its: opt.ITS, keys: opt.Keys, rand: opt.Rand, lim: opt.Limits, records: map[int32]int{}}
	if s.keys == nil {
		s.huk = append([]byte(nil), opt.HUK...)
		s.keys = HUKKeys(s.huk)
	}
	if err := s.index(); err != nil {
		return nil, err
	}
	return s, nil
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
// interrupted between the file and its record forward, and deletes a stale
// file (a removed object's, or a replay of one). Call with s.mu held. rec
// is the (possibly updated) record; floor is the client's floor when there
// is no record.
func (s *Service) current(client int32, uid psa.StorageUID) (o *sealed, rec *record, floor uint64, err error) {
	rec, err = s.loadRecord(client, uid)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", errRecord, err)
	}
	if rec == nil {
		if floor, err = s.loadFloor(client); err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w", errRecord, err)
		}
	}
	b, err := s.st.Get(objName(client, uid))
	if errors.Is(err, storage.ErrNotExist) {
		if rec != nil && rec.State != stateRemoved {
			return nil, rec, floor, fmt.Errorf("ps: uid %d: backing file missing: %w", uid, ipc.ErrDataCorrupt)
		}
		return nil, rec, floor, fmt.Errorf("ps: uid %d: %w", uid, ipc.ErrDoesNotExist)
	}
	if err != nil {
		return nil, rec, floor, fmt.Errorf("ps: uid %d: %v: %w", uid, err, ipc.ErrStorageFailure)
	}
	if o, err = open(s.keys, client, uid, b); err != nil {
		return nil, rec, floor, err
	}
	rv := floor
	if rec != nil {
		rv = rec.Version
	}
	noReplay := o.Flags&psa.StorageFlagNoReplayProtection != 0
	switch {
	case rec == nil && noReplay && o.Version == 0:
		return o, nil, floor, nil
	case o.Version != 0 && o.Version == rv+1:
		// The file of a set whose record did not reach ITS before a power
		// cut: only the SPE can make an authentic file, so roll forward.
		nr := &record{Client: client, UID: uid, Version: o.Version, State: stateLive, Flags: o.Flags}
		if noReplay {
			nr.State = stateUnprotected
		}
		if err := s.saveRecord(nr, counted(rec)); err != nil {
			return nil, rec, floor, err
		}
		return o, nr, floor, nil
	case (rec == nil || rec.State == stateRemoved) && o.Version <= rv:
		// A removal cut before the file went, or a replay of a removed
		// object: at or below the floor (or a tombstone), nothing lives.
		_ = s.st.Delete(objName(client, uid))
		return nil, rec, floor, fmt.Errorf("ps: uid %d: %w", uid, ipc.ErrDoesNotExist)
	case rec != nil && o.Version == rv && (rec.State == stateUnprotected) == noReplay && rec.State != stateRemoved:
		return o, rec, floor, nil
	}
	return nil, rec, floor, fmt.Errorf("ps: uid %d: file version %d, recorded %d (replayed?): %w", uid, o.Version, rv, ipc.ErrDataCorrupt)
}

// errRecord marks an error reading the version record or the floor: without
// them PS cannot tell which files are stale, so the object can be neither
// read nor replaced (a new version could collide with an old file).
var errRecord = errors.New("ps: version record unusable")

// counted says whether writing a record over rec adds one to its client's
// count: rec is none, or an uncounted tombstone of an older release.
func counted(rec *record) bool { return rec == nil || rec.State == stateRemoved }

// quota refuses what would take client beyond its quotas: a new object
// file (newFile) or a new version record (newRecord), each at most
// lim.MaxAssets.
func (s *Service) quota(client int32, newFile, newRecord bool) error {
	if newFile {
		names, err := s.st.List(fmt.Sprintf("%08x-", uint32(client)))
		if err != nil {
			return fmt.Errorf("ps: %v: %w", err, ipc.ErrStorageFailure)
		}
		if len(names) >= s.lim.MaxAssets {
			names = s.sweep(client, names)
		}
		if len(names) >= s.lim.MaxAssets {
			return fmt.Errorf("ps: client holds %d objects, the limit: %w", len(names), ipc.ErrInsufficientStorage)
		}
	}
	if newRecord && s.records[client] >= s.lim.MaxAssets {
		return fmt.Errorf("ps: client holds %d version records, the limit: %w", s.records[client], ipc.ErrInsufficientStorage)
	}
	return nil
}

// sweep resolves each of client's object files, which deletes the stale
// ones (a removal cut by a power cut after its record went leaves its file
// until the object is next touched), and returns the names that remain.
func (s *Service) sweep(client int32, names []string) []string {
	kept := names[:0]
	for _, n := range names {
		var c uint32
		var u uint64
		if _, err := fmt.Sscanf(n, "%08x-%016x", &c, &u); err == nil && objName(client, psa.StorageUID(u)) == n {
			if _, _, _, err := s.current(client, psa.StorageUID(u)); errors.Is(err, ipc.ErrDoesNotExist) {
				continue
			}
		}
		kept = append(kept, n)
	}
	return kept
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
	return s.setLocked(client, uid, data, flags, uint32(len(data)))
}

// setLocked writes (client, uid) with data and capacity: a new object, or a
// new version of one that is not write-once.
func (s *Service) setLocked(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags, capacity uint32) error {
	old, rec, floor, err := s.current(client, uid)
	if errors.Is(err, errRecord) {
		return err
	}
	noReplay := flags&psa.StorageFlagNoReplayProtection != 0
	// A record is written unless a NO_REPLAY_PROTECTION object has none to
	// continue; it is a new one unless the object has a (non-tombstone) one.
	newRecord := (rec != nil || !noReplay) && counted(rec)
	var bump uint64 = 1
	switch {
	case err == nil:
		if old.Flags&psa.StorageFlagWriteOnce != 0 {
			return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
		}
	case errors.Is(err, ipc.ErrDoesNotExist):
		if err := s.quota(client, true, newRecord); err != nil {
			return err
		}
	case errors.Is(err, ipc.ErrInvalidSignature), errors.Is(err, ipc.ErrDataCorrupt):
		// A damaged or replayed file is replaced, unless the record says the
		// object is write-once. Skip a version so that an authentic file of
		// an unacknowledged set cannot collide with the new one.
		if rec != nil && rec.State == stateLive && rec.Flags&psa.StorageFlagWriteOnce != 0 {
			return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
		}
		if err := s.quota(client, false, newRecord); err != nil {
			return err
		}
		bump = 2
	default:
		return err
	}
	// Versions continue from the record, or from the client's floor: never
	// at or below the version of a file that once existed.
	var version uint64
	if rec != nil || !noReplay {
		version = floor
		if rec != nil {
			version = rec.Version
		}
		version += bump
	}
	o := &sealed{Flags: flags, Version: version, Client: client, UID: uid, Data: data, Capacity: capacity}
	b, err := seal(s.keys, o, s.rand)
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
	if noReplay {
		nr.State = stateUnprotected
	}
	return s.saveRecord(nr, counted(rec))
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
	o, _, _, err := s.current(client, uid)
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
	o, _, _, err := s.current(client, uid)
	s.mu.Unlock()
	if err != nil {
		return psa.StorageInfo{}, err
	}
	return psa.StorageInfo{Capacity: max(o.Capacity, uint32(len(o.Data))), Size: uint32(len(o.Data)), Flags: o.Flags}, nil
}

// Remove is psa_ps_remove. No tombstone is kept: the client's floor is
// raised above the object's version first, then its record and its file go,
// so neither a power cut nor a replayed file brings the object back, and a
// client removing objects in a loop holds no more records than objects.
func (s *Service) Remove(client int32, uid psa.StorageUID) error {
	if uid == 0 {
		return fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	o, rec, _, err := s.current(client, uid)
	if err != nil {
		return err
	}
	if o.Flags&psa.StorageFlagWriteOnce != 0 {
		return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
	}
	if rec != nil {
		// Above the file's version and above the version a set of it
		// interrupted by a power cut could have written.
		if err := s.raiseFloor(client, rec.Version+1); err != nil {
			return err
		}
		if err := s.deleteRecord(client, uid); err != nil {
			return err
		}
	}
	if err := s.st.Delete(objName(client, uid)); err != nil {
		return fmt.Errorf("ps: %v: %w", err, ipc.ErrStorageFailure)
	}
	return nil
}

// Create is psa_ps_create: an empty object (size 0) that set_extended may
// fill up to capacity bytes. WRITE_ONCE cannot be combined with it (an
// object written piecewise is never complete), so it is NOT_SUPPORTED, as
// are unknown flags; an existing uid is ALREADY_EXISTS whatever its
// parameters; a capacity over the object size limit is INSUFFICIENT_STORAGE.
func (s *Service) Create(client int32, uid psa.StorageUID, capacity uint32, flags psa.StorageFlags) error {
	if uid == 0 {
		return fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	if flags&^allowedFlags != 0 || flags&psa.StorageFlagWriteOnce != 0 {
		return fmt.Errorf("ps: create flags 0x%x: %w", uint32(flags), ipc.ErrNotSupported)
	}
	if int64(capacity) > int64(s.lim.MaxAssetSize) {
		return fmt.Errorf("ps: capacity %d over the %d-byte limit: %w", capacity, s.lim.MaxAssetSize, ipc.ErrInsufficientStorage)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	_, _, _, err := s.current(client, uid)
	switch {
	case err == nil:
		return fmt.Errorf("ps: uid %d: %w", uid, ipc.ErrAlreadyExists)
	case !errors.Is(err, ipc.ErrDoesNotExist):
		return err
	}
	return s.setLocked(client, uid, nil, flags, capacity)
}

// SetExtended is psa_ps_set_extended: data written at offset of an existing
// object, within its capacity, leaving no gap (offset at most its size).
func (s *Service) SetExtended(client int32, uid psa.StorageUID, offset uint32, data []byte) error {
	if uid == 0 {
		return fmt.Errorf("ps: uid 0: %w", ipc.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	old, _, _, err := s.current(client, uid)
	if err != nil {
		return err
	}
	if old.Flags&psa.StorageFlagWriteOnce != 0 {
		return fmt.Errorf("ps: uid %d is write-once: %w", uid, ipc.ErrNotPermitted)
	}
	capacity := max(old.Capacity, uint32(len(old.Data)))
	end := uint64(offset) + uint64(len(data))
	if uint64(offset) > uint64(len(old.Data)) || end > uint64(capacity) {
		return fmt.Errorf("ps: write of %d bytes at %d into %d of %d: %w", len(data), offset, len(old.Data), capacity, ipc.ErrInvalidArgument)
	}
	nd := make([]byte, max(uint64(len(old.Data)), end))
	copy(nd, old.Data)
	copy(nd[offset:], data)
	return s.setLocked(client, uid, nd, old.Flags, capacity)
}

// Manifest declares the PS partition: one stateless service at TF-M's SID.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_PS",
	Type:             spe.ApplicationRoT,
	// The root key partition for its object keys and ITS for its version
	// records: through the partition manager at isolation level 3, in
	// memory at levels 1 and 2.
	Dependencies: []uint32{psa.RootKeySID, psa.ITSSID},
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
		return m.Write(0, psa.AppendUint32(nil, SupportSetExtended))
	}
	switch op := psa.StorageOp(m.Type); op {
	case psa.StorageOpCreate, psa.StorageOpSetExtended:
		h, err := psa.ParseStorageHeader(op, m.InVec(0))
		if err != nil || len(m.OutSize) != 0 || m.NumIn() != 1+b2i(op == psa.StorageOpSetExtended) {
			return ipc.ErrProgrammerError
		}
		if op == psa.StorageOpCreate {
			return its.Status(s.Create(m.Client, h.UID, h.Capacity, h.Flags))
		}
		return its.Status(s.SetExtended(m.Client, h.UID, h.Offset, m.InVec(1)))
	}
	r, st := its.Decode(m)
	if st != ipc.Success {
		return st
	}
	return its.Serve(s, m, r)
}

// SupportSetExtended is PSA_STORAGE_SUPPORT_SET_EXTENDED: psa_ps_create and
// psa_ps_set_extended are implemented.
const SupportSetExtended = 1

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
