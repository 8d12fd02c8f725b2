package flash

import (
	"bytes"
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
	f       *fdpool.File // nil when mapped
	dataOff int64
	progOff int64
	mapped  []byte // the whole file, when mapped (file_map.go)
}

func (b *fileBacking) store(d *Device, off, n uint32) error {
	if n == 0 || b.mapped != nil { // a mapped device stores into the file itself
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
// mode 0600, and returns the device backed by it. Close it when done. The
// geometry's JSON is padded with spaces to put the data on a page
// boundary, so a large device can be mapped (file_map.go); a device whose
// erased value is 0 then starts as a sparse file, costing no disk until
// written.
func Create(path string, g Geometry) (*Device, error) {
	size, err := g.Validate()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("flash: encode geometry: %w", err)
	}
	if pad := (headerAlign - (12+len(js))%headerAlign) % headerAlign; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
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
	b.progOff = b.dataOff + int64(size)
	if mappable(b.dataOff, size) {
		return createMapped(f, hdr, g, b)
	}
	d, err := New(g)
	if err != nil {
		f.Close()
		return nil, err
	}
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

// createMapped writes the header, extends the file to its full size (a
// hole reads as zeros: erased data, nothing programmed), maps it and
// fills the data with the erased value unless that is 0. It closes f.
func createMapped(f *os.File, hdr []byte, g Geometry, b *fileBacking) (*Device, error) {
	defer f.Close()
	size := b.progOff - b.dataOff
	end := b.progOff + 8*((size+63)/64)
	if _, err := f.Write(hdr); err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	if err := f.Truncate(end); err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	d := &Device{geom: g, sectors: g.SectorList()}
	if err := mapFile(f, d, b, end); err != nil {
		return nil, err
	}
	if g.ErasedValue != 0 {
		fill(d.data, g.ErasedValue)
	}
	d.backing = b
	return d, nil
}

// Open loads the device file at path; writes and erases go through to it
// (a large device is mapped instead: file_map.go).
func Open(path string) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	h, err := loadHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if mappable(h.b.dataOff, h.size) {
		defer f.Close()
		d := &Device{geom: h.g, sectors: h.g.SectorList()}
		if err := mapFile(f, d, h.b, h.end); err != nil {
			return nil, err
		}
		d.backing = h.b
		return d, nil
	}
	d, err := h.readBody(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.b.f = fdpool.Shared.Adopt(path, f)
	d.backing = h.b
	return d, nil
}

// fileHeader is what a device file's header says: its geometry, the
// device size, where the data and bitmap are and where the file ends.
type fileHeader struct {
	g    Geometry
	size uint32
	b    *fileBacking
	end  int64
}

// load parses a device file from r into memory.
func load(r io.ReaderAt) (*Device, *fileBacking, error) {
	h, err := loadHeader(r)
	if err != nil {
		return nil, nil, err
	}
	d, err := h.readBody(r)
	return d, h.b, err
}

// loadHeader parses a device file's header and checks the file is as
// long as its geometry needs.
func loadHeader(r io.ReaderAt) (*fileHeader, error) {
	hdr := make([]byte, 12)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFile, err)
	}
	if string(hdr[:8]) != fileMagic {
		return nil, fmt.Errorf("%w: magic %q", ErrFile, hdr[:8])
	}
	n := binary.LittleEndian.Uint32(hdr[8:])
	if n > 1<<16 {
		return nil, fmt.Errorf("%w: geometry length %d", ErrFile, n)
	}
	js := make([]byte, n)
	if _, err := r.ReadAt(js, 12); err != nil {
		return nil, fmt.Errorf("%w: geometry: %v", ErrFile, err)
	}
	var g Geometry
	if err := json.Unmarshal(js, &g); err != nil {
		return nil, fmt.Errorf("%w: geometry: %v", ErrFile, err)
	}
	size, err := g.Validate()
	if err != nil {
		return nil, err
	}
	// Check the file really holds the data and bitmap the geometry claims
	// before allocating for them.
	end := 12 + int64(n) + int64(size) + 8*int64((size+63)/64)
	if _, err := r.ReadAt(make([]byte, 1), end-1); err != nil {
		return nil, fmt.Errorf("%w: shorter than the %d bytes its geometry needs", ErrFile, end)
	}
	b := &fileBacking{dataOff: 12 + int64(n)}
	b.progOff = b.dataOff + int64(size)
	return &fileHeader{g: g, size: size, b: b, end: end}, nil
}

// readBody reads the data and the bitmap into a new in-memory device.
func (h *fileHeader) readBody(r io.ReaderAt) (*Device, error) {
	d, err := New(h.g)
	if err != nil {
		return nil, err
	}
	if _, err := r.ReadAt(d.data, h.b.dataOff); err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrFile, err)
	}
	pb := make([]byte, 8*len(d.prog))
	if _, err := r.ReadAt(pb, h.b.progOff); err != nil {
		return nil, fmt.Errorf("%w: programmed bitmap: %v", ErrFile, err)
	}
	for i := range d.prog {
		d.prog[i] = binary.LittleEndian.Uint64(pb[8*i:])
	}
	return d, nil
}

// Close releases the backing file, if any.
func (d *Device) Close() error {
	if d.backing == nil {
		return nil
	}
	b := d.backing
	d.backing = nil
	if b.mapped != nil {
		// The slices point into the mapping: drop them before it goes.
		d.data, d.prog = nil, nil
		return b.unmap()
	}
	return b.f.Close()
}
