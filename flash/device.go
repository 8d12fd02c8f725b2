package flash

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// Errors returned by device operations; each is wrapped with the offending
// offset and length.
var (
	ErrPowerCut   = errors.New("flash: power cut")
	ErrRange      = errors.New("flash: out of range")
	ErrAlign      = errors.New("flash: misaligned write")
	ErrNotErased  = errors.New("flash: write to programmed bytes")
	ErrNotSectors = errors.New("flash: erase range is not whole sectors")
)

// Device is a modelled flash part. It is not safe for concurrent use.
type Device struct {
	geom    Geometry
	sectors []Sector
	data    []byte
	prog    []uint64 // one bit per byte: programmed since the last erase
	ops     int      // write and erase operations attempted since the last PowerOn or SetFault
	fault   *Fault
	off     bool // power is cut: every operation fails until PowerOn
	backing *fileBacking
}

// New returns an erased in-memory device with geometry g.
func New(g Geometry) (*Device, error) {
	size, err := g.Validate()
	if err != nil {
		return nil, err
	}
	d := &Device{
		geom:    g,
		sectors: g.SectorList(),
		data:    make([]byte, size),
		prog:    make([]uint64, (size+63)/64),
	}
	fill(d.data, g.ErasedValue)
	return d, nil
}

func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// Geometry returns the device's geometry.
func (d *Device) Geometry() Geometry { return d.geom }

// Size is the device size in bytes.
func (d *Device) Size() uint32 { return uint32(len(d.data)) }

// WriteAlign is the write alignment in bytes.
func (d *Device) WriteAlign() int { return d.geom.WriteAlign }

// ErasedValue is the value erased bytes read as.
func (d *Device) ErasedValue() byte { return d.geom.ErasedValue }

// Sectors returns a copy of the device's sectors in address order.
func (d *Device) Sectors() []Sector { return append([]Sector(nil), d.sectors...) }

// SectorsIn returns the sectors exactly covering [off, off+size), or an error
// when the range does not start and end on sector boundaries.
func (d *Device) SectorsIn(off, size uint32) ([]Sector, error) {
	if uint64(off)+uint64(size) > uint64(len(d.data)) {
		return nil, fmt.Errorf("%w: [%#x, +%#x) beyond device size %#x", ErrRange, off, size, len(d.data))
	}
	i := sort.Search(len(d.sectors), func(i int) bool { return d.sectors[i].Off >= off })
	if i == len(d.sectors) || d.sectors[i].Off != off {
		if size == 0 && off == uint32(len(d.data)) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: offset %#x is not a sector start", ErrNotSectors, off)
	}
	end := off + size
	j := i
	for j < len(d.sectors) && d.sectors[j].Off < end {
		j++
	}
	last := d.sectors[j-1]
	if size > 0 && last.Off+last.Size != end {
		return nil, fmt.Errorf("%w: end %#x is not a sector end", ErrNotSectors, end)
	}
	return append([]Sector(nil), d.sectors[i:j]...), nil
}

func (d *Device) checkRange(op string, off uint32, n int) error {
	if uint64(off)+uint64(n) > uint64(len(d.data)) {
		return fmt.Errorf("%w: %s [%#x, +%#x) beyond device size %#x", ErrRange, op, off, n, len(d.data))
	}
	return nil
}

// Read copies len(p) bytes at off into p. Reads are not counted as operations
// and cannot be cut, but fail while the power is off.
func (d *Device) Read(off uint32, p []byte) error {
	if d.off {
		return ErrPowerCut
	}
	if err := d.checkRange("read", off, len(p)); err != nil {
		return err
	}
	copy(p, d.data[off:])
	return nil
}

// Write programs p at off. Both must be multiples of the write alignment and
// every target byte must be erased (not programmed since its sector's last
// erase). A write counts as one operation for fault injection.
func (d *Device) Write(off uint32, p []byte) error {
	if d.off {
		return ErrPowerCut
	}
	if err := d.checkRange("write", off, len(p)); err != nil {
		return err
	}
	a := uint32(d.geom.WriteAlign)
	if off%a != 0 || uint32(len(p))%a != 0 {
		return fmt.Errorf("%w: write at %#x of %d bytes with alignment %d", ErrAlign, off, len(p), a)
	}
	if i, found := d.firstProg(off, uint32(len(p))); found {
		return fmt.Errorf("%w: byte %#x already programmed", ErrNotErased, i)
	}
	n := len(p)
	cut := d.step()
	if cut {
		if !d.fault.Tear {
			return d.cut("write", off)
		}
		n = d.fault.tearLen(len(p))
	}
	if d.backing != nil && d.backing.mapped != nil {
		storeChanged(d.data[off:], p[:n])
	} else {
		copy(d.data[off:], p[:n])
	}
	d.setProgRange(off, uint32(n))
	if d.backing != nil {
		if err := d.backing.store(d, off, uint32(n)); err != nil {
			return err
		}
	}
	if cut {
		return d.cut("write", off)
	}
	return nil
}

// Erase erases [off, off+size), which must be whole sectors. One call counts
// as one operation for fault injection, whatever its size.
func (d *Device) Erase(off, size uint32) error {
	if d.off {
		return ErrPowerCut
	}
	if _, err := d.SectorsIn(off, size); err != nil {
		return err
	}
	n := size
	cut := d.step()
	if cut {
		if !d.fault.Tear {
			return d.cut("erase", off)
		}
		n = uint32(d.fault.tearLen(int(size)))
	}
	if d.backing != nil && d.backing.mapped != nil {
		d.eraseProgrammed(off, n)
	} else {
		fill(d.data[off:off+n], d.geom.ErasedValue)
	}
	d.clearProgRange(off, n)
	if d.backing != nil {
		if err := d.backing.store(d, off, n); err != nil {
			return err
		}
	}
	if cut {
		return d.cut("erase", off)
	}
	return nil
}

// IsErased reports whether [off, off+n) holds only unprogrammed bytes.
func (d *Device) IsErased(off uint32, n int) (bool, error) {
	if d.off {
		return false, ErrPowerCut
	}
	if err := d.checkRange("read", off, n); err != nil {
		return false, err
	}
	_, found := d.firstProg(off, uint32(n))
	return !found, nil
}

func (d *Device) isProg(i uint32) bool { return d.prog[i/64]&(1<<(i%64)) != 0 }

// firstProg finds the first programmed byte in [off, off+n), a word at a time.
func (d *Device) firstProg(off, n uint32) (uint32, bool) {
	for i, end := off, off+n; i < end; {
		if i%64 == 0 && end-i >= 64 {
			if d.prog[i/64] == 0 {
				i += 64
				continue
			}
		}
		if d.isProg(i) {
			return i, true
		}
		i++
	}
	return 0, false
}

// setProgRange and clearProgRange mark [off, off+n) a word at a time.
func (d *Device) setProgRange(off, n uint32) {
	for i, end := off, off+n; i < end; {
		if i%64 == 0 && end-i >= 64 {
			d.prog[i/64] = ^uint64(0)
			i += 64
			continue
		}
		d.setProg(i)
		i++
	}
}

func (d *Device) clearProgRange(off, n uint32) {
	for i, end := off, off+n; i < end; {
		if i%64 == 0 && end-i >= 64 {
			if d.prog[i/64] != 0 { // a store of zero would still dirty a mapped page
				d.prog[i/64] = 0
			}
			i += 64
			continue
		}
		d.clearProg(i)
		i++
	}
}

// eraseProgrammed erases [off, off+n) of a mapped device by filling only
// the 64-byte blocks that hold a programmed byte: a byte never programmed
// since its last erase already holds the erased value (Write copies
// exactly the bytes it marks, Erase fills exactly the bytes it clears), and
// leaving its page alone keeps it out of the page cache, or a hole of a
// sparse file. (Giving erased pages back, madvise MADV_REMOVE, was a
// third of a simulated device's CPU in its update: a hole punched per
// sector, then faulted in again by the next write.)
func (d *Device) eraseProgrammed(off, n uint32) {
	for i, end := off, off+n; i < end; {
		w := i / 64
		next := min((w+1)*64, end)
		if d.prog[w] != 0 {
			fill(d.data[i:next], d.geom.ErasedValue)
		}
		i = next
	}
}

// storeChanged copies src into a mapped device's dst a page at a time,
// skipping pages that already hold it: programming the erased value into a
// never-written page (a swap moving the erased part of a slot) then
// leaves it a hole of the file.
func storeChanged(dst, src []byte) {
	for len(src) > 0 {
		k := min(len(src), 4096)
		if !bytes.Equal(dst[:k], src[:k]) {
			copy(dst, src[:k])
		}
		dst, src = dst[k:], src[k:]
	}
}

func (d *Device) setProg(i uint32)   { d.prog[i/64] |= 1 << (i % 64) }
func (d *Device) clearProg(i uint32) { d.prog[i/64] &^= 1 << (i % 64) }

// Clone returns an in-memory copy of d's contents with no fault armed and the
// power on. The copy is never file-backed.
func (d *Device) Clone() *Device {
	return &Device{
		geom:    d.geom,
		sectors: d.sectors,
		data:    append([]byte(nil), d.data...),
		prog:    append([]uint64(nil), d.prog...),
	}
}

// CopyFrom overwrites d's contents with src's, which must have the same
// geometry; the fault and operation count are reset. It lets a power-cut
// sweep restore a snapshot without allocating.
func (d *Device) CopyFrom(src *Device) {
	copy(d.data, src.data)
	copy(d.prog, src.prog)
	d.fault, d.ops, d.off = nil, 0, false
}
