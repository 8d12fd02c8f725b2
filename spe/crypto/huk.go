package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"rampart/spe/storage"
)

// StoreKeyLabel is the HKDF label of the key that seals the persistent
// keys: HKDF-SHA256(HUK, StoreKeyLabel). A crypto partition without the
// HUK (isolation level 3) gets it from the root key partition.
const StoreKeyLabel = "rampart spe crypto key store v1"

// HUKSize is the length of the hardware unique key.
const HUKSize = 32

// LoadOrCreateHUK reads the hardware unique key from path, creating it from
// rand (mode 0600, directory 0700) when it does not exist yet. A key file
// that others could read is refused. Provisioning (issue 5) will own this
// file later; until then the first start creates it.
func LoadOrCreateHUK(path string, rand io.Reader) ([]byte, error) {
	if err := storage.PrivateDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("crypto: hardware unique key directory: %w", err)
	}
	return loadOrCreateHUK(path, rand)
}

// LoadOrCreateHUKSearchable is LoadOrCreateHUK in a directory other users
// may enter but not list or write (storage.SearchableDir): the state
// directory at isolation level 3 with a user per partition.
func LoadOrCreateHUKSearchable(path string, rand io.Reader) ([]byte, error) {
	if err := storage.SearchableDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("crypto: hardware unique key directory: %w", err)
	}
	return loadOrCreateHUK(path, rand)
}

func loadOrCreateHUK(path string, rand io.Reader) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		huk := make([]byte, HUKSize)
		if _, err := io.ReadFull(rand, huk); err != nil {
			return nil, fmt.Errorf("crypto: hardware unique key: %w", err)
		}
		nf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("crypto: create hardware unique key: %w", err)
		}
		if _, err := nf.Write(huk); err != nil {
			nf.Close()
			return nil, fmt.Errorf("crypto: write hardware unique key: %w", err)
		}
		if err := nf.Sync(); err != nil {
			nf.Close()
			return nil, fmt.Errorf("crypto: write hardware unique key: %w", err)
		}
		return huk, nf.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: hardware unique key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("crypto: hardware unique key: %w", err)
	}
	// A key others could read may have leaked: tightening its mode now
	// would hide that, so it is refused and the operator decides.
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("crypto: hardware unique key %s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("crypto: hardware unique key %s belongs to uid %d, not to the SPE's user", path, st.Uid)
	}
	huk := make([]byte, HUKSize+1)
	n, err := io.ReadFull(f, huk)
	if n != HUKSize || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("crypto: hardware unique key %s: want exactly %d bytes", path, HUKSize)
	}
	return huk[:HUKSize], nil
}

// storageKey derives the key-store sealing key from the hardware unique key.
func storageKey(huk []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, huk, nil, StoreKeyLabel, 32)
}
