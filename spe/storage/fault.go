package storage

import "errors"

// Op is a step of a store operation that changes the disk.
type Op int

// The steps of Put (create, write, sync, rename, sync directory) and Delete
// (remove, sync directory).
const (
	OpCreate Op = iota + 1
	OpWrite
	OpSync
	OpRename
	OpSyncDir
	OpRemove
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpWrite:
		return "write"
	case OpSync:
		return "fsync"
	case OpRename:
		return "rename"
	case OpSyncDir:
		return "fsync-dir"
	case OpRemove:
		return "remove"
	}
	return "op?"
}

// ErrPowerCut is what an injected fault returns.
var ErrPowerCut = errors.New("storage: power cut")

// FaultFunc is called before each step with the step, the object name and,
// for OpWrite, the number of bytes about to be written. A non-nil error stops
// the operation before the step (for OpWrite, after writing the first n bytes
// it returns: a torn write).
type FaultFunc func(op Op, name string, n int) (int, error)

// CutAt returns a FaultFunc that lets the first k-1 steps (counted across
// every store sharing it) run and cuts the power at step k; a write cut is
// torn to half its bytes. Once cut, every later step fails too, as nothing
// runs without power. *count reports the steps seen.
func CutAt(k int, count *int) FaultFunc {
	return func(op Op, name string, n int) (int, error) {
		*count++
		if *count < k {
			return n, nil
		}
		if *count == k && op == OpWrite {
			return n / 2, ErrPowerCut
		}
		return 0, ErrPowerCut
	}
}
