//go:build unix

package flash

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// MapThreshold is the device size from which a file-backed device is
// mapped (mmap, MAP_SHARED) rather than held in memory and written
// through: its data and programmed bitmap are then the file's pages in the
// kernel's page cache, so ten thousand simulated devices with 1 MiB slots
// hold the pages they touched (reclaimable once written back), not two
// megabytes of heap each, and a device holds no descriptor at all. A store
// into the mapping is in the file when it returns, as a write-through was:
// another process reading the file, or this one after a crash of the
// process, sees it. Smaller devices keep the in-memory copy, whose
// write-through costs little.
const MapThreshold = 256 << 10

// headerAlign is the data offset's alignment in a file made by Create: a
// page, so a sector starts on a file page and the bitmap after the data on
// a word boundary (the mapped bitmap is read as uint64 words).
const headerAlign = 4096

// nativeLittle: the file stores the bitmap's words little-endian, which a
// mapping can only present as []uint64 on a little-endian machine.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// mappable reports whether a device of size bytes whose data starts at
// dataOff can be mapped.
func mappable(dataOff int64, size uint32) bool {
	return nativeLittle && size >= MapThreshold && dataOff%8 == 0 && size%8 == 0
}

// mapFile maps the whole of f (end bytes) and points d's data and bitmap
// into it; the descriptor may be closed afterwards (the mapping keeps the
// file).
func mapFile(f *os.File, d *Device, b *fileBacking, end int64) error {
	m, err := syscall.Mmap(int(f.Fd()), 0, int(end), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("flash: map: %w", err)
	}
	size := b.progOff - b.dataOff
	d.data = m[b.dataOff:b.progOff:b.progOff]
	if n := (size + 63) / 64; n > 0 {
		d.prog = unsafe.Slice((*uint64)(unsafe.Pointer(&m[b.progOff])), n)
	}
	b.mapped = m
	return nil
}

// unmap releases the mapping; the file holds everything stored in it.
func (b *fileBacking) unmap() error {
	if b.mapped == nil {
		return nil
	}
	err := syscall.Munmap(b.mapped)
	b.mapped = nil
	return err
}
