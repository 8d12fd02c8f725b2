package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
)

// keyRef names a key: IDs are per client, so the owner is part of the name.
type keyRef struct {
	owner int32
	id    psa.KeyID
}

// Limits of the key store and its file format.
const (
	volatileIDMin        = psa.KeyID(0x7f000000)
	volatileIDMax        = psa.KeyIDVendorMax
	sealedMagic          = "RPK1"
	sealedNonceSize      = 12
	persistentFileSuffix = ".key"
)

// store holds the key slots: volatile keys in memory only, persistent keys
// sealed on disk and cached in memory once used.
type store struct {
	createMu sync.Mutex // serializes the creation of persistent keys
	mu       sync.RWMutex
	slots    map[keyRef]*slot
	volatile int
	nextVol  psa.KeyID
	dir      string // "" means no persistent storage
	maxPers  int    // persistent keys per client
	lim      Limits
	usage    map[int32]*clientUsage // each client's volatile keys
	vault    KeyVault               // nil: no keys of psa.LocationRampartTPM
	aead     cipher.AEAD
	rand     io.Reader
	down     bool // shut down: nothing loads or is created
}

// newStore opens the key store in dir, sealed under key (32 bytes), or a
// volatile one when dir is empty.
func newStore(dir string, key []byte, rand io.Reader, lim Limits) (*store, error) {
	lim = lim.withDefaults()
	s := &store{slots: map[keyRef]*slot{}, dir: dir, rand: rand, nextVol: volatileIDMin, maxPers: lim.PersistentKeysPerClient,
		lim: lim, usage: map[int32]*clientUsage{}}
	if dir == "" {
		return s, nil
	}
	if err := storage.PrivateDir(dir); err != nil {
		return nil, fmt.Errorf("crypto: key directory: %w", err)
	}
	if err := storage.PrivateFiles(dir); err != nil {
		return nil, fmt.Errorf("crypto: key directory: %w", err)
	}
	blk, err := aes.NewCipher(key) // the cipher keeps its own schedule
	if err != nil {
		return nil, err
	}
	s.aead, err = cipher.NewGCM(blk)
	return s, err
}

func (s *store) path(r keyRef) string {
	return filepath.Join(s.dir, fmt.Sprintf("%08x-%08x%s", uint32(r.owner), uint32(r.id), persistentFileSuffix))
}

func sealedAAD(r keyRef) []byte {
	b := []byte(sealedMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(r.owner))
	return binary.LittleEndian.AppendUint32(b, uint32(r.id))
}

// get returns the slot for r, loading a persistent key from disk on a miss.
func (s *store) get(r keyRef) (*slot, ipc.Status) {
	if r.id == psa.KeyIDNull {
		return nil, ipc.ErrInvalidHandle
	}
	s.mu.RLock()
	sl, down, dir := s.slots[r], s.down, s.dir
	s.mu.RUnlock()
	if down {
		return nil, ipc.ErrBadState
	}
	if sl != nil {
		return sl, ipc.Success
	}
	if dir == "" || r.id > psa.KeyIDUserMax {
		return nil, ipc.ErrInvalidHandle
	}
	sl, st := s.load(r)
	if st != ipc.Success {
		return nil, st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		sl.wipe()
		return nil, ipc.ErrBadState
	}
	if cur := s.slots[r]; cur != nil {
		sl.wipe()
		return cur, ipc.Success
	}
	s.slots[r] = sl
	return sl, ipc.Success
}

func (s *store) load(r keyRef) (*slot, ipc.Status) {
	data, err := os.ReadFile(s.path(r))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ipc.ErrInvalidHandle
	}
	if err != nil {
		return nil, ipc.ErrStorageFailure
	}
	if len(data) < len(sealedMagic)+sealedNonceSize || string(data[:4]) != sealedMagic {
		return nil, ipc.ErrDataCorrupt
	}
	nonce := data[4 : 4+sealedNonceSize]
	pt, err := s.aead.Open(nil, nonce, data[4+sealedNonceSize:], sealedAAD(r))
	if err != nil {
		return nil, ipc.ErrDataCorrupt
	}
	defer clear(pt)
	if len(pt) < psa.AttributesSize {
		return nil, ipc.ErrDataInvalid
	}
	var attr psa.KeyAttributes
	if attr.UnmarshalBinary(pt[:psa.AttributesSize]) != nil || attr.ID != r.id {
		return nil, ipc.ErrDataInvalid
	}
	newer := newSlot
	if inVault(attr) {
		newer = newVaultSlot
	}
	sl, st := newer(attr, pt[psa.AttributesSize:])
	if st != ipc.Success {
		return nil, ipc.ErrDataInvalid
	}
	sl.owner = r.owner
	return sl, ipc.Success
}

// put adds a new key. Volatile keys get an ID here and belong to session.
func (s *store) put(owner int32, session uint64, sl *slot) (psa.KeyID, ipc.Status) {
	sl.owner = owner
	if sl.attr.Lifetime.IsPersistent() {
		if s.dir == "" {
			return 0, ipc.ErrNotSupported
		}
		r := keyRef{owner, sl.attr.ID}
		s.createMu.Lock()
		defer s.createMu.Unlock()
		if _, st := s.get(r); st == ipc.Success {
			return 0, ipc.ErrAlreadyExists
		} else if st != ipc.ErrInvalidHandle {
			return 0, st
		}
		if s.persistentCount(owner) >= s.maxPers {
			return 0, ipc.ErrInsufficientStorage
		}
		if st := s.persist(r, sl); st != ipc.Success {
			return 0, st
		}
		s.mu.Lock()
		s.slots[r] = sl
		s.mu.Unlock()
		return r.id, ipc.Success
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, ipc.ErrBadState
	}
	u := s.usage[owner]
	if u == nil {
		u = &clientUsage{}
	}
	// The client's own quotas first: a client at its quota is refused
	// however empty the shared pool is, and cannot empty it for others.
	if u.keys >= s.lim.VolatileKeysPerClient || u.bytes+len(sl.material) > s.lim.VolatileBytesPerClient || s.volatile >= s.lim.VolatileKeys {
		return 0, ipc.ErrInsufficientMemory
	}
	for {
		id := s.nextVol
		s.nextVol++
		if s.nextVol > volatileIDMax || s.nextVol < volatileIDMin {
			s.nextVol = volatileIDMin
		}
		r := keyRef{owner, id}
		if s.slots[r] == nil {
			sl.attr.ID = id
			sl.session = session
			s.slots[r] = sl
			s.volatile++
			u.keys++
			u.bytes += len(sl.material)
			s.usage[owner] = u
			return id, ipc.Success
		}
	}
}

func (s *store) persist(r keyRef, sl *slot) ipc.Status {
	pt := psa.AppendAttributes(nil, sl.attr)
	pt = append(pt, sl.material...)
	defer clear(pt)
	nonce := make([]byte, sealedNonceSize)
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return ipc.ErrInsufficientEntropy
	}
	out := append([]byte(sealedMagic), nonce...)
	out = s.aead.Seal(out, nonce, pt, sealedAAD(r))
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return ipc.ErrStorageFailure
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return ipc.ErrStorageFailure
	}
	if _, err := tmp.Write(out); err != nil {
		return ipc.ErrInsufficientStorage
	}
	if err := tmp.Sync(); err != nil {
		return ipc.ErrStorageFailure
	}
	if err := tmp.Close(); err != nil {
		return ipc.ErrStorageFailure
	}
	if err := os.Rename(tmp.Name(), s.path(r)); err != nil {
		return ipc.ErrStorageFailure
	}
	ok = true
	return ipc.Success
}

// storedRefs names every sealed key file of every client.
func (s *store) storedRefs() []keyRef {
	entries, _ := os.ReadDir(s.dir)
	var out []keyRef
	for _, e := range entries {
		var owner, id uint32
		if !strings.HasSuffix(e.Name(), persistentFileSuffix) {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "%08x-%08x"+persistentFileSuffix, &owner, &id); err == nil {
			out = append(out, keyRef{int32(owner), psa.KeyID(id)})
		}
	}
	return out
}

// persistentCount returns how many persistent keys owner has on disk.
func (s *store) persistentCount(owner int32) int {
	prefix := fmt.Sprintf("%08x-", uint32(owner))
	entries, _ := os.ReadDir(s.dir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), persistentFileSuffix) {
			n++
		}
	}
	return n
}

// destroy removes a key from memory and, when persistent, from disk. A
// stored key that no longer opens (corrupted, tampered) is removed too, so
// its ID can be used again.
func (s *store) destroy(r keyRef) ipc.Status {
	sl, st := s.get(r)
	if (st == ipc.ErrDataCorrupt || st == ipc.ErrDataInvalid) && s.dir != "" {
		if err := os.Remove(s.path(r)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ipc.ErrStorageFailure
		}
		return ipc.Success
	}
	if st != ipc.Success {
		return st
	}
	if inVault(sl.attr) {
		// The TPM object first: a key whose reference is gone but whose
		// object stays is out of reach until a start sweeps it
		// (sweepVault) or decommissioning clears the TPM.
		if s.vault == nil {
			return ipc.ErrBadState
		}
		if err := s.vault.DestroyKey(sl.vaultHandle, sl.ecdsaP); err != nil {
			return ipc.ErrHardwareFailure
		}
	}
	s.mu.Lock()
	if s.slots[r] == sl {
		delete(s.slots, r)
		if !sl.attr.Lifetime.IsPersistent() {
			s.forgetVolatile(sl)
		}
	}
	s.mu.Unlock()
	if sl.attr.Lifetime.IsPersistent() {
		if err := os.Remove(s.path(r)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ipc.ErrStorageFailure
		}
	}
	return ipc.Success
}

// purge drops the in-memory copy of a persistent key.
func (s *store) purge(r keyRef) ipc.Status {
	sl, st := s.get(r)
	if st != ipc.Success {
		return st
	}
	if sl.attr.Lifetime.IsPersistent() {
		s.mu.Lock()
		delete(s.slots, r)
		s.mu.Unlock()
	}
	return ipc.Success
}

// endSession destroys the volatile keys created on a connection.
func (s *store) endSession(owner int32, session uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for r, sl := range s.slots {
		if r.owner == owner && sl.session == session && !sl.attr.Lifetime.IsPersistent() {
			delete(s.slots, r)
			s.forgetVolatile(sl)
			n++
		}
	}
	return n
}

// forgetVolatile takes a removed volatile key off the counts. Call with mu
// held.
func (s *store) forgetVolatile(sl *slot) {
	s.volatile--
	if u := s.usage[sl.owner]; u != nil {
		u.keys--
		u.bytes -= len(sl.material)
		if u.keys <= 0 {
			delete(s.usage, sl.owner)
		}
	}
}

// volatileUsage returns owner's volatile key count and bytes (for tests).
func (s *store) volatileUsage(owner int32) (keys, bytes int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.usage[owner]; u != nil {
		return u.keys, u.bytes
	}
	return 0, 0
}

// list returns the attributes of owner's keys (volatile and persistent).
func (s *store) list(owner int32) []psa.KeyAttributes {
	seen := map[psa.KeyID]bool{}
	var out []psa.KeyAttributes
	s.mu.RLock()
	for r, sl := range s.slots {
		if r.owner == owner {
			out = append(out, sl.attr)
			seen[r.id] = true
		}
	}
	s.mu.RUnlock()
	if s.dir != "" {
		prefix := fmt.Sprintf("%08x-", uint32(owner))
		entries, _ := os.ReadDir(s.dir)
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, persistentFileSuffix) {
				continue
			}
			var id uint32
			if _, err := fmt.Sscanf(strings.TrimSuffix(name[len(prefix):], persistentFileSuffix), "%08x", &id); err != nil || seen[psa.KeyID(id)] {
				continue
			}
			if sl, st := s.load(keyRef{owner, psa.KeyID(id)}); st == ipc.Success {
				out = append(out, sl.attr)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// count returns the number of keys in memory (for tests and status).
func (s *store) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.slots)
}
