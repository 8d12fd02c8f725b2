package storage

import (
	"fmt"
	"os"
	"path/filepath"
)

// Destroy overwrites every file in the store with zeros, syncs it, unlinks it
// and removes the directory: used at decommissioning so that no object can be
// read back, even from the file's old blocks through a stale handle.
func (s *Store) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Shred(s.dir)
}

// Shred overwrites with zeros, syncs and removes every regular file under dir,
// then removes dir. A missing dir is not an error.
func Shred(dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return ShredFile(p)
	})
	if err != nil {
		return fmt.Errorf("storage: shred %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("storage: shred %s: %w", dir, err)
	}
	return nil
}

// ShredContents is Shred that keeps dir itself, empty: for a directory
// whose parent its owner may not write (the state directory at isolation
// level 3 with a user per partition).
func ShredContents(dir string) error {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: shred %s: %w", dir, err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = Shred(p)
		} else {
			err = ShredFile(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ShredFile overwrites the file at p with zeros, syncs it and removes it.
// A missing file is not an error.
func ShredFile(p string) error {
	fi, err := os.Lstat(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: shred: %w", err)
	}
	if fi.Mode().IsRegular() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("storage: shred: %w", err)
		}
		zero := make([]byte, 4096)
		for left := fi.Size(); left > 0; {
			n := int64(len(zero))
			if left < n {
				n = left
			}
			if _, err := f.Write(zero[:n]); err != nil {
				f.Close()
				return fmt.Errorf("storage: shred %s: %w", p, err)
			}
			left -= n
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("storage: shred %s: %w", p, err)
		}
		f.Close()
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("storage: shred: %w", err)
	}
	return nil
}
