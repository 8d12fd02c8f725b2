package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"sync"

	"rampart/flash"
)

// FlashStore keeps objects in an area of a flash.Device (the flash map's
// "its" storage area), log-structured in two banks of whole sectors:
//
//	bank   = header ‖ record ‖ record ‖ ... ‖ erased
//	header = "RFS1" ‖ generation u32 ‖ CRC-32 u32           (write-aligned)
//	record = 0x52 ‖ kind u8 (1 put, 2 delete) ‖ name length u8 ‖ 0 ‖
//	         data length u32 ‖ name ‖ data ‖ CRC-32 u32      (padded to the alignment)
//
// A put or delete is one record written in one flash write: a torn record
// fails its CRC and is ignored, so after a power cut an object is old or
// new. When the active bank is full, the live objects are copied to the
// other bank, whose header (with the next generation) is written last: the
// bank with the highest valid generation is the active one.
type FlashStore struct {
	mu     sync.Locker
	dev    *flash.Device
	banks  [2]bankArea
	active int
	gen    uint32
	next   uint32 // append offset inside the active bank
	objs   map[string][]byte
	dirty  bool // the active bank holds a torn record: compact before appending
}

type bankArea struct{ off, size uint32 }

// Record layout constants.
const (
	fsHeaderLen = 12
	fsRecHead   = 8
	fsMaxName   = 128
	fsRecMagic  = 0x52
	fsKindPut   = 1
	fsKindDel   = 2
)

var fsMagic = []byte("RFS1")

// ErrNoSpace is returned when the live objects do not fit in one bank.
var ErrNoSpace = errors.New("storage: flash area full")

// FlashOptions configures a FlashStore.
type FlashOptions struct {
	// Lock serializes access to the device with its other users (the
	// bootloader, firmware update); nil means a private mutex.
	Lock sync.Locker
}

// OpenFlash opens the store in [off, off+size) of dev, which must be an
// even number of whole sectors (two banks of equal size), formatting it when
// no bank is valid.
func OpenFlash(dev *flash.Device, off, size uint32, opt FlashOptions) (*FlashStore, error) {
	secs, err := dev.SectorsIn(off, size)
	if err != nil {
		return nil, fmt.Errorf("storage: flash area: %w", err)
	}
	half := size / 2
	var acc uint32
	split := false
	for _, s := range secs {
		acc += s.Size
		if acc == half {
			split = true
		}
	}
	if !split || len(secs) < 2 {
		return nil, fmt.Errorf("storage: flash area [0x%x, 0x%x) does not split into two banks of whole sectors", off, off+size)
	}
	if opt.Lock == nil {
		opt.Lock = &sync.Mutex{}
	}
	fs := &FlashStore{mu: opt.Lock, dev: dev, banks: [2]bankArea{{off, half}, {off + half, half}}}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.load(); err != nil {
		return nil, err
	}
	return fs, nil
}

func (fs *FlashStore) align(n uint32) uint32 {
	a := uint32(fs.dev.WriteAlign())
	return (n + a - 1) / a * a
}

// readHeader returns the generation of bank i, or ok false.
func (fs *FlashStore) readHeader(i int) (uint32, bool) {
	h := make([]byte, fsHeaderLen)
	if err := fs.dev.Read(fs.banks[i].off, h); err != nil {
		return 0, false
	}
	if !bytes.Equal(h[:4], fsMagic) || crc32.ChecksumIEEE(h[:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(h[4:]), true
}

func (fs *FlashStore) load() error {
	g0, ok0 := fs.readHeader(0)
	g1, ok1 := fs.readHeader(1)
	switch {
	case !ok0 && !ok1:
		return fs.format()
	case ok0 && (!ok1 || g0 > g1):
		fs.active, fs.gen = 0, g0
	default:
		fs.active, fs.gen = 1, g1
	}
	return fs.scan()
}

// format erases bank 0 and writes its first header.
func (fs *FlashStore) format() error {
	fs.objs = map[string][]byte{}
	fs.active, fs.gen = 0, 1
	if err := fs.writeBank(0, 1, nil); err != nil {
		return err
	}
	fs.next = fs.align(fsHeaderLen)
	return nil
}

// scan replays the active bank's records into memory.
func (fs *FlashStore) scan() error {
	b := fs.banks[fs.active]
	data := make([]byte, b.size)
	if err := fs.dev.Read(b.off, data); err != nil {
		return fmt.Errorf("storage: flash: %w", err)
	}
	fs.objs = map[string][]byte{}
	fs.dirty = false
	pos := fs.align(fsHeaderLen)
	erased := fs.dev.ErasedValue()
	for pos+fsRecHead <= b.size {
		h := data[pos : pos+fsRecHead]
		if allBytes(h, erased) {
			break
		}
		nameLen, dataLen := uint32(h[2]), binary.LittleEndian.Uint32(h[4:])
		end := uint64(pos) + fsRecHead + uint64(nameLen) + uint64(dataLen) + 4
		if h[0] != fsRecMagic || (h[1] != fsKindPut && h[1] != fsKindDel) || nameLen == 0 || end > uint64(b.size) {
			fs.dirty = true
			break
		}
		rec := data[pos:end]
		if crc32.ChecksumIEEE(rec[:len(rec)-4]) != binary.LittleEndian.Uint32(rec[len(rec)-4:]) {
			fs.dirty = true // a torn write: nothing after it is trusted
			break
		}
		name := string(rec[fsRecHead : fsRecHead+nameLen])
		if h[1] == fsKindPut {
			fs.objs[name] = append([]byte(nil), rec[fsRecHead+nameLen:len(rec)-4]...)
		} else {
			delete(fs.objs, name)
		}
		pos = fs.align(uint32(end))
	}
	fs.next = pos
	if !fs.dirty && pos < b.size {
		// Appends need erased flash: bytes programmed after the last
		// record (a torn erase, hostile content) force a compaction first.
		ok, err := fs.dev.IsErased(b.off+pos, int(b.size-pos))
		if err != nil {
			return fmt.Errorf("storage: flash: %w", err)
		}
		fs.dirty = !ok
	}
	return nil
}

func allBytes(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}

func (fs *FlashStore) record(kind byte, name string, data []byte) []byte {
	r := make([]byte, 0, fs.align(uint32(fsRecHead+len(name)+len(data)+4)))
	r = append(r, fsRecMagic, kind, byte(len(name)), 0)
	r = binary.LittleEndian.AppendUint32(r, uint32(len(data)))
	r = append(r, name...)
	r = append(r, data...)
	r = binary.LittleEndian.AppendUint32(r, crc32.ChecksumIEEE(r))
	for uint32(len(r)) < fs.align(uint32(len(r))) {
		r = append(r, fs.dev.ErasedValue())
	}
	return r
}

// writeBank erases bank i, writes the records of objs and then its header
// with generation gen (the commit point).
func (fs *FlashStore) writeBank(i int, gen uint32, objs map[string][]byte) error {
	b := fs.banks[i]
	if err := fs.dev.Erase(b.off, b.size); err != nil {
		return fmt.Errorf("storage: flash: %w", err)
	}
	names := make([]string, 0, len(objs))
	for n := range objs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	for _, n := range names {
		buf = append(buf, fs.record(fsKindPut, n, objs[n])...)
	}
	start := fs.align(fsHeaderLen)
	if uint64(start)+uint64(len(buf)) > uint64(b.size) {
		return fmt.Errorf("%w: %d bytes of objects in a %d-byte bank", ErrNoSpace, len(buf), b.size)
	}
	if len(buf) > 0 {
		if err := fs.dev.Write(b.off+start, buf); err != nil {
			return fmt.Errorf("storage: flash: %w", err)
		}
	}
	h := append([]byte(nil), fsMagic...)
	h = binary.LittleEndian.AppendUint32(h, gen)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(h))
	for uint32(len(h)) < start {
		h = append(h, fs.dev.ErasedValue())
	}
	if err := fs.dev.Write(b.off, h); err != nil {
		return fmt.Errorf("storage: flash: %w", err)
	}
	fs.next = start + uint32(len(buf))
	return nil
}

// compact copies objs to the other bank and makes it active.
func (fs *FlashStore) compact(objs map[string][]byte) error {
	other := 1 - fs.active
	if err := fs.writeBank(other, fs.gen+1, objs); err != nil {
		return err
	}
	fs.active, fs.gen, fs.objs, fs.dirty = other, fs.gen+1, objs, false
	return nil
}

// apply appends one record, compacting first when the bank is full or torn.
func (fs *FlashStore) apply(kind byte, name string, data []byte) error {
	rec := fs.record(kind, name, data)
	if !fs.dirty && uint64(fs.next)+uint64(len(rec)) <= uint64(fs.banks[fs.active].size) {
		if err := fs.dev.Write(fs.banks[fs.active].off+fs.next, rec); err != nil {
			fs.dirty = true
			return fmt.Errorf("storage: flash: %w", err)
		}
		fs.next += uint32(len(rec))
		if kind == fsKindPut {
			fs.objs[name] = append([]byte(nil), data...)
		} else {
			delete(fs.objs, name)
		}
		return nil
	}
	objs := make(map[string][]byte, len(fs.objs)+1)
	for n, d := range fs.objs {
		objs[n] = d
	}
	if kind == fsKindPut {
		objs[name] = append([]byte(nil), data...)
	} else {
		delete(objs, name)
	}
	return fs.compact(objs)
}

// Put replaces (or creates) object name.
func (fs *FlashStore) Put(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.apply(fsKindPut, name, data)
}

// Get returns object name, or an error wrapping ErrNotExist.
func (fs *FlashStore) Get(name string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.objs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return append([]byte(nil), d...), nil
}

// Delete removes object name.
func (fs *FlashStore) Delete(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.objs[name]; !ok {
		return fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return fs.apply(fsKindDel, name, nil)
}

// List returns the names starting with prefix, sorted.
func (fs *FlashStore) List(prefix string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for n := range fs.objs {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Destroy erases both banks (decommissioning): nothing remains to read.
func (fs *FlashStore) Destroy() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, b := range fs.banks {
		if err := fs.dev.Erase(b.off, b.size); err != nil {
			return fmt.Errorf("storage: flash: %w", err)
		}
	}
	fs.objs = map[string][]byte{}
	fs.dirty = true
	return nil
}
