package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"rampart/internal/secfile"
)

// ErrExposed is wrapped when a directory or file of the SPE's state could
// have been changed by someone else: writable by its group or by others, or
// owned by another user. Its contents cannot be trusted, so the SPE refuses
// to use it rather than tighten it.
var ErrExposed = errors.New("storage: state exposed to other users")

// PrivateDir makes dir the SPE's own: it is created (with its parents) with
// mode 0700 when missing; an existing one must belong to the SPE's user and
// be writable by nobody else (ErrExposed otherwise), and its read and search
// bits for the group and others are removed (chmod 0700) whatever they were.
// The files in it are left to their owners (Open makes a store's files
// private; the hardware unique key refuses to be used when others could
// read it).
func PrivateDir(dir string) error {
	// An existing directory is checked before anything changes its mode
	// (secfile.MkdirAll would tighten a group-writable one, hiding that
	// others could have changed what it holds).
	if err := tighten(dir, true); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := secfile.MkdirAll(dir); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return tighten(dir, true) // the owner, should another user have made it meanwhile
}

// SearchableDir is PrivateDir for a state directory shared by processes of
// several users (isolation level 3 with a user per partition): it must
// belong to the SPE's user and be writable by nobody else, and its mode is
// made 0711, so the other users may enter it (to reach their own
// subdirectories) but not list it.
func SearchableDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("storage: %s: not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to the SPE's user (uid %d)", ErrExposed, dir, st.Uid, os.Geteuid())
	}
	if mode := fi.Mode().Perm(); mode&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v: others could have changed it", ErrExposed, dir, mode)
	} else if mode != 0o711 {
		// Straight to 0711, never through 0700: the other users'
		// processes may be entering it meanwhile.
		if err := os.Chmod(dir, 0o711); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	return nil
}

// PrivateFiles applies PrivateFile to every regular file directly in dir.
func PrivateFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			if err := tighten(filepath.Join(dir, e.Name()), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// PrivateFile makes the existing file at path the SPE's own: it must belong
// to the SPE's user and be writable by nobody else (ErrExposed otherwise),
// and it gets mode 0600 whatever it had. A missing file is not an error.
func PrivateFile(path string) error {
	err := tighten(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// tighten checks the owner and write bits of path and removes every group
// and other permission.
func tighten(path string, dir bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if dir != fi.IsDir() {
		return fmt.Errorf("storage: %s: not a %s", path, map[bool]string{true: "directory", false: "file"}[dir])
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to the SPE's user (uid %d)", ErrExposed, path, st.Uid, os.Geteuid())
	}
	mode := fi.Mode().Perm()
	if mode&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v: others could have changed it", ErrExposed, path, mode)
	}
	want := os.FileMode(0o600)
	if dir {
		want = 0o700
	}
	if mode != want {
		if err := os.Chmod(path, want); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	return nil
}
