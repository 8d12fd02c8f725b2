package flash

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"rampart/internal/fdpool"
	"rampart/internal/secfile"
)

// File format of a file-backed device (all integers little-endian):
//
//	"RAMPFLS1" | u32 n | n bytes of JSON Geometry | data (device size) | programmed bitmap (u64 words)
//
// Every write and erase is written through to the file before the call
// returns, so the file always holds what the device holds. The file's
// descriptor is shared (fdpool.Shared): a device not written to for a while
// holds none, so a process can run thousands of file-backed devices.
const fileMagic = "RAMPFLS1"

// ErrFile is wrapped by errors about a malformed device file.
var ErrFile = errors.New("flash: malformed device file")

type fileBacking struct {
	f       *fdpool.File
	dataOff int64
	progOff int64
}

func (b *fileBacking) store(d *Device, off, n uint32) error {
	if n == 0 {
		return nil
	}
	if _, err := b.f.WriteAt(d.data[off:off+n], b.dataOff+int64(off)); err != nil {
		return fmt.Errorf("flash: write-through: %w", err)
	}
	w0, w1 := off/64, (off+n+63)/64
	buf := make([]byte, 8*(w1-w0))
	for i := w0; i < w1; i++ {
		binary.LittleEndian.PutUint64(buf[8*(i-w0):], d.prog[i])
	}
	if _, err := b.f.WriteAt(buf, b.progOff+int64(w0)*8); err != nil {
		return fmt.Errorf("flash: write-through: %w", err)
	}
	return nil
}

// Create makes a new erased device file at path (which must not exist),
// mode 0600, and returns the device backed by it. Close it when done.
func Create(path string, g Geometry) (*Device, error) {
	d, err := New(g)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("flash: encode geometry: %w", err)
	}
	// 0600: the device's flash holds its internal trusted storage.
	f, err := secfile.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	hdr := make([]byte, 12, 12+len(js))
	copy(hdr, fileMagic)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(js)))
	hdr = append(hdr, js...)
	b := &fileBacking{dataOff: int64(len(hdr))}
	b.progOff = b.dataOff + int64(len(d.data))
	out := append(hdr, d.data...)
	out = append(out, make([]byte, 8*len(d.prog))...)
	if _, err := f.Write(out); err != nil {
		f.Close()
		return nil, fmt.Errorf("flash: %w", err)
	}
	b.f = fdpool.Shared.Adopt(path, f)
	d.backing = b
	return d, nil
}

// Open loads the device file at path; writes and erases go through to it.
func Open(path string) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	d, b, err := load(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.f = fdpool.Shared.Adopt(path, f)
	d.backing = b
	return d, nil
}

// load parses a device file from r.
func load(r io.ReaderAt) (*Device, *fileBacking, error) {
	hdr := make([]byte, 12)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrFile, err)
	}
	if string(hdr[:8]) != fileMagic {
		return nil, nil, fmt.Errorf("%w: magic %q", ErrFile, hdr[:8])
	}
	n := binary.LittleEndian.Uint32(hdr[8:])
	if n > 1<<16 {
		return nil, nil, fmt.Errorf("%w: geometry length %d", ErrFile, n)
	}
	js := make([]byte, n)
	if _, err := r.ReadAt(js, 12); err != nil {
		return nil, nil, fmt.Errorf("%w: geometry: %v", ErrFile, err)
	}
	var g Geometry
	if err := json.Unmarshal(js, &g); err != nil {
		return nil, nil, fmt.Errorf("%w: geometry: %v", ErrFile, err)
	}
	size, err := g.Validate()
	if err != nil {
		return nil, nil, err
	}
	// Check the file really holds the data and bitmap the geometry claims
	// before allocating for them.
	end := 12 + int64(n) + int64(size) + 8*int64((size+63)/64)
	if _, err := r.ReadAt(make([]byte, 1), end-1); err != nil {
		return nil, nil, fmt.Errorf("%w: shorter than the %d bytes its geometry needs", ErrFile, end)
	}
	d, err := New(g)
	if err != nil {
		return nil, nil, err
	}
	b := &fileBacking{dataOff: 12 + int64(n)}
	b.progOff = b.dataOff + int64(len(d.data))
	if _, err := r.ReadAt(d.data, b.dataOff); err != nil {
		return nil, nil, fmt.Errorf("%w: data: %v", ErrFile, err)
	}
	pb := make([]byte, 8*len(d.prog))
	if _, err := r.ReadAt(pb, b.progOff); err != nil {
		return nil, nil, fmt.Errorf("%w: programmed bitmap: %v", ErrFile, err)
	}
	for i := range d.prog {
		d.prog[i] = binary.LittleEndian.Uint64(pb[8*i:])
	}
	return d, b, nil
}

// Close releases the backing file, if any.
func (d *Device) Close() error {
	if d.backing == nil {
		return nil
	}
	err := d.backing.f.Close()
	d.backing = nil
	return err
}
