package audit

import (
	"io"
	"os"

	"rampart/internal/fdpool"
	"rampart/internal/secfile"
	"rampart/spe/storage"
)

// Backing is the store a Log appends to. *os.File satisfies it; tests use a
// fault-injecting implementation.
type Backing interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes everything written so far durable.
	Sync() error
	// Truncate cuts the store to size bytes (used only to drop a torn tail).
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// OpenFile opens (creating if needed) the file at path as a Backing. The
// directory entry of a new file is synced so the file itself survives a crash.
// An existing file is made 0600 whatever its mode was; one others could
// write to, or another user's, is refused (storage.PrivateFile). Its
// descriptor is shared (fdpool.Shared): a log not appended to for a while
// holds none, so a process can run thousands of simulated SPEs.
func OpenFile(path string) (Backing, error) {
	_, statErr := os.Stat(path)
	if err := storage.PrivateFile(path); err != nil {
		return nil, err
	}
	f, err := secfile.OpenFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	if os.IsNotExist(statErr) {
		if err := syncDir(path); err != nil {
			f.Close()
			return nil, err
		}
	}
	return fdpool.Shared.Adopt(path, f), nil
}
