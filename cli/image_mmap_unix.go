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
//
// Every byte is read (hashed, and written by sign), so the mapping is
// populated at once where the system can (imageMapPopulate): one system
// call instead of a page fault every 64 KiB, which is about a sixth of the
// process's CPU for 16 MiB on a virtual machine, where each fault is a trap
// to the hypervisor.
func imageMapFile(f *os.File, size int64) ([]byte, bool) {
	if size < 1<<20 || size > imageMaxFile {
		return nil, false
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|imageMapPopulate)
	if err != nil {
		return nil, false
	}
	return b, true
}
