package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"rampart/internal/secfile"
)

// ErrNotExist is returned for an object that is not in the store.
var ErrNotExist = errors.New("storage: object does not exist")

// ErrName is returned for an object name the store refuses.
var ErrName = errors.New("storage: invalid object name")

// tmpSuffix marks a replacement in progress; Open removes such files.
const tmpSuffix = ".tmp"

// MaxObject bounds the size of one object file read back.
const MaxObject = 16 << 20

// Options configures a Store.
type Options struct {
	// Fault, when set, runs before every step that changes the disk; an error
	// from it stops the operation there, as a power cut would (see Fault).
	Fault FaultFunc
	// Searchable keeps the directory 0711 (SearchableDir) instead of 0700:
	// a state directory whose subdirectories belong to other users.
	Searchable bool
}

// Store is a directory of atomically replaced objects. It is safe for
// concurrent use.
type Store struct {
	mu    sync.Mutex
	dir   string
	fault FaultFunc
}

// Open opens (creating with mode 0700) the store in dir and removes the
// temporary files an interrupted replacement left behind. The directory
// and its files are made private to the SPE's user whatever their modes
// were (0700 and 0600, see PrivateDir and PrivateFile); a store others could
// write to, or holding another user's files, is refused.
func Open(dir string, opt Options) (*Store, error) {
	check := PrivateDir
	if opt.Searchable {
		check = SearchableDir
	}
	if err := check(dir); err != nil {
		return nil, err
	}
	if err := PrivateFiles(dir); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, fault: opt.Fault}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("storage: removing interrupted write: %w", err)
			}
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// SetFault arms (or, with nil, disarms) fault injection.
func (s *Store) SetFault(f FaultFunc) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

func checkName(name string) error {
	if name == "" || len(name) > 128 || strings.HasSuffix(name, tmpSuffix) {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: %q", ErrName, name)
		}
	}
	return nil
}

func (s *Store) step(op Op, name string, n int) (int, error) {
	if s.fault == nil {
		return n, nil
	}
	return s.fault(op, name, n)
}

// Put replaces (or creates) the object name with data. When Put returns nil
// the new object is durable; when it fails, the store holds the old object or
// the new one (the new one only if the rename reached the disk).
func (s *Store) Put(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	final := filepath.Join(s.dir, name)
	tmp := final + tmpSuffix
	if _, err := s.step(OpCreate, name, 0); err != nil {
		return err
	}
	// secfile: a temporary file left by a crash keeps its mode under
	// O_TRUNC; it loses group and other access before data is written.
	f, err := secfile.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", name, err)
	}
	n, ferr := s.step(OpWrite, name, len(data))
	if n > len(data) || n < 0 {
		n = len(data)
	}
	if _, err := f.Write(data[:n]); err != nil {
		f.Close()
		return fmt.Errorf("storage: write %s: %w", name, err)
	}
	if ferr != nil {
		f.Close()
		return ferr
	}
	if _, err := s.step(OpSync, name, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("storage: sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", name, err)
	}
	if _, err := s.step(OpRename, name, 0); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("storage: rename %s: %w", name, err)
	}
	if _, err := s.step(OpSyncDir, name, 0); err != nil {
		return err
	}
	return s.syncDir()
}

func (s *Store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("storage: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync directory: %w", err)
	}
	return nil
}

// Get returns the object name, or an error wrapping ErrNotExist.
func (s *Store) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxObject+1))
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", name, err)
	}
	if len(data) > MaxObject {
		return nil, fmt.Errorf("storage: object %s larger than %d bytes", name, MaxObject)
	}
	return data, nil
}

// Delete removes the object name durably; a missing object gives ErrNotExist.
func (s *Store) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.step(OpRemove, name, 0); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	if err != nil {
		return fmt.Errorf("storage: remove %s: %w", name, err)
	}
	if _, err := s.step(OpSyncDir, name, 0); err != nil {
		return err
	}
	return s.syncDir()
}

// List returns the names of the objects starting with prefix, sorted.
func (s *Store) List(prefix string) ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, prefix) && checkName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Reader returns a store over dir for reading only: it neither makes the
// directory private nor removes interrupted writes, which belong to the
// process that writes there. A partition process reads another
// partition's object with it (the lifecycle state, at isolation level 3).
func Reader(dir string) *Store { return &Store{dir: dir} }
