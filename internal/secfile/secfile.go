// Package secfile creates the files and directories that hold secrets or
// device data (keys, the fleet database, agent state, simulator and demo
// directories): files with mode 0600, directories 0700, whatever the umask
// and whatever already exists at the path. A secret is never written into
// a file that others can read, not even for a moment: WriteFile writes a new
// 0600 file and renames it over the old one, OpenFile and Tighten remove
// group and other access from a file that exists before anything is
// written to it.
//
// It must never loosen a mode, and never change anything but the path it is
// given (MkdirAll tightens only the directory named, not its existing
// parents: /var or a home directory is not Rampart's to change). Modes are
// POSIX modes; on systems without them the calls still write the data.
package secfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrCannotTighten: a file or directory has group or other access and its
// mode cannot be changed (not its owner, a read-only file system). Writers
// must not go on; a caller that only reads an existing file may warn and
// continue.
var ErrCannotTighten = errors.New("secfile: cannot remove group and other access")

// The modes of what this package creates.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// WriteFile writes data to path atomically: a new file of mode 0600 in the
// same directory, synced, then renamed over path, and the directory synced.
// Whatever path was before (a 0644 file, a file other processes hold open),
// it is replaced, never written into.
func WriteFile(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // created 0600
	if err != nil {
		return fmt.Errorf("secfile: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("secfile: write %s: %w", path, err)
		}
	}()
	// CreateTemp's 0600 already excludes everyone else; Chmod makes the
	// mode exactly 0600 even under an odd umask (0o200 would leave 0400).
	if err = f.Chmod(FileMode); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; failing to is not an error worth
// failing the write for (some file systems refuse to sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// MkdirAll creates dir and any missing parents with mode 0700, and removes
// group and other access from dir itself if it already exists. Existing
// parents are left as they are.
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	return Tighten(dir)
}

// OpenFile opens path with flag (os.O_RDWR|os.O_CREATE, ...); a file it
// creates has mode 0600, and an existing file loses any group or other
// access before OpenFile returns, so nothing is written to it while others
// can read it.
func OpenFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, FileMode)
	if err != nil {
		return nil, fmt.Errorf("secfile: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("secfile: %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		if err := f.Chmod(perm &^ 0o077); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrCannotTighten, path, err)
		}
	}
	return f, nil
}

// Tighten removes group and other access from path (a file or a
// directory) if it exists; a missing path is not an error. It follows a
// symbolic link, as opening the path would.
func Tighten(path string) error {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(path, perm&^0o077); err != nil {
			return fmt.Errorf("%w: %w", ErrCannotTighten, err)
		}
	}
	return nil
}
