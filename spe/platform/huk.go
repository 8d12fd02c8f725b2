package platform

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"rampart/spe/crypto"
	"rampart/spe/storage"
)

// ensureHUK generates the hardware unique key inside the SPE when the state
// directory has none, writing it atomically (temporary file, fsync, rename,
// directory fsync) so that a power cut leaves no key or a whole key, never a
// short file the next start would refuse. crypto.LoadOrCreateHUK then only
// loads it (and checks its mode).
func ensureHUK(stateDir string, rand io.Reader, fault storage.FaultFunc, searchable bool) error {
	if _, err := os.Lstat(filepath.Join(stateDir, HUKFile)); !errors.Is(err, fs.ErrNotExist) {
		return nil // present (or unreadable: LoadOrCreateHUK reports it)
	}
	st, err := storage.Open(stateDir, storage.Options{Fault: fault, Searchable: searchable})
	if err != nil {
		return fmt.Errorf("platform: hardware unique key: %w", err)
	}
	huk := make([]byte, crypto.HUKSize)
	defer clear(huk)
	if _, err := io.ReadFull(rand, huk); err != nil {
		return fmt.Errorf("platform: hardware unique key: %w", err)
	}
	if err := st.Put(HUKFile, huk); err != nil {
		return fmt.Errorf("platform: hardware unique key: %w", err)
	}
	return nil
}
