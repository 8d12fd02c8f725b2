//go:build linux || darwin || freebsd

package cli

import (
	"os"
	"syscall"
)

// imageMapFile maps a large regular file read-only instead of copying it
// into the heap: signing or verifying a 16 MiB image then costs one hash
// pass and no copy. The mapping lives until the process exits (the CLI is
// short-lived). If the file is truncated while mapped, reading past its new
// end faults; the CLI only reads the bytes, so the worst case is a crash,
// never a wrong verdict about bytes it did not see.
func imageMapFile(f *os.File, size int64) ([]byte, bool) {
	if size < 1<<20 || size > imageMaxFile {
		return nil, false
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, false
	}
	return b, true
}
