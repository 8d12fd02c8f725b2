// Package ihex reads and writes Intel HEX files, the text format imgtool
// accepts and writes for images whose name ends in .hex.
//
// It supports data (00), end-of-file (01), extended segment address (02),
// start segment address (03), extended linear address (04) and start linear
// address (05) records, and writes records the way Python's intelhex module
// does (16 data bytes a line, an extended linear address record whenever the
// upper 16 address bits change, only when some address is above 0xFFFF).
// It must never guess: a bad checksum, an odd digit count or a record after
// end-of-file is an error naming the line.
package ihex

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("ihex: syntax error")

// Segment is a run of contiguous bytes at an address.
type Segment struct {
	Addr uint32
	Data []byte
}

// Memory is a sparse image of memory: non-overlapping segments sorted by address.
type Memory struct {
	segs []Segment
	// StartLinear is the start linear address (record 05), if HasStart.
	StartLinear uint32
	HasStart    bool
}

// MaxSize caps the span of a parsed file (1 GiB) so hostile input cannot
// make ToBinary allocate without bound.
const MaxSize = 1 << 30

// Parse reads an Intel HEX file.
func Parse(data []byte) (*Memory, error) {
	m := &Memory{}
	var base uint32
	eof := false
	for i, line := range strings.Split(string(data), "\n") {
		ln := i + 1
		line = strings.TrimRight(line, "\r \t")
		if line == "" {
			continue
		}
		if eof {
			return nil, fmt.Errorf("%w: line %d: data after the end-of-file record", ErrSyntax, ln)
		}
		if line[0] != ':' {
			return nil, fmt.Errorf("%w: line %d: record does not start with ':'", ErrSyntax, ln)
		}
		rec, err := hex.DecodeString(line[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrSyntax, ln, err)
		}
		if len(rec) < 5 || len(rec) != 5+int(rec[0]) {
			return nil, fmt.Errorf("%w: line %d: record length field %d does not match the line", ErrSyntax, ln, safeLen(rec))
		}
		var sum byte
		for _, c := range rec {
			sum += c
		}
		if sum != 0 {
			return nil, fmt.Errorf("%w: line %d: bad checksum", ErrSyntax, ln)
		}
		n, off, typ, payload := int(rec[0]), uint32(rec[1])<<8|uint32(rec[2]), rec[3], rec[4:4+int(rec[0])]
		switch typ {
		case 0:
			addr := uint64(base) + uint64(off)
			if addr+uint64(n) > 1<<32 {
				return nil, fmt.Errorf("%w: line %d: data past the 4 GiB address space", ErrSyntax, ln)
			}
			m.Put(uint32(addr), payload)
		case 1:
			eof = true
		case 2, 4:
			if n != 2 {
				return nil, fmt.Errorf("%w: line %d: address record of %d bytes, want 2", ErrSyntax, ln, n)
			}
			v := uint32(payload[0])<<8 | uint32(payload[1])
			if typ == 2 {
				base = v << 4
			} else {
				base = v << 16
			}
		case 3, 5:
			if n != 4 {
				return nil, fmt.Errorf("%w: line %d: start address record of %d bytes, want 4", ErrSyntax, ln, n)
			}
			m.StartLinear = uint32(payload[0])<<24 | uint32(payload[1])<<16 | uint32(payload[2])<<8 | uint32(payload[3])
			m.HasStart = true
		default:
			return nil, fmt.Errorf("%w: line %d: unknown record type %d", ErrSyntax, ln, typ)
		}
	}
	if lo, hi, ok := m.Span(); ok && uint64(hi)-uint64(lo) >= MaxSize {
		return nil, fmt.Errorf("%w: data spans 0x%x..0x%x, more than %d bytes", ErrSyntax, lo, hi, MaxSize)
	}
	return m, nil
}

func safeLen(rec []byte) int {
	if len(rec) == 0 {
		return 0
	}
	return int(rec[0])
}

// Segments returns the segments in address order.
func (m *Memory) Segments() []Segment { return m.segs }

// Span returns the lowest address and the last address (inclusive) holding data.
func (m *Memory) Span() (lo, hi uint32, ok bool) {
	if len(m.segs) == 0 {
		return 0, 0, false
	}
	last := m.segs[len(m.segs)-1]
	return m.segs[0].Addr, last.Addr + uint32(len(last.Data)) - 1, true
}

// Put writes data at addr, replacing what was there.
func (m *Memory) Put(addr uint32, data []byte) {
	if len(data) == 0 {
		return
	}
	end := uint64(addr) + uint64(len(data))
	var out []Segment
	for _, s := range m.segs {
		sEnd := uint64(s.Addr) + uint64(len(s.Data))
		if sEnd <= uint64(addr) || uint64(s.Addr) >= end {
			out = append(out, s)
			continue
		}
		if s.Addr < addr {
			out = append(out, Segment{s.Addr, s.Data[:addr-s.Addr]})
		}
		if sEnd > end {
			out = append(out, Segment{uint32(end), s.Data[end-uint64(s.Addr):]})
		}
	}
	out = append(out, Segment{addr, append([]byte(nil), data...)})
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	// merge adjacent segments
	merged := out[:0:0]
	for _, s := range out {
		if n := len(merged); n > 0 && uint64(merged[n-1].Addr)+uint64(len(merged[n-1].Data)) == uint64(s.Addr) {
			merged[n-1].Data = append(merged[n-1].Data, s.Data...)
			continue
		}
		merged = append(merged, s)
	}
	m.segs = merged
}

// ToBinary returns the bytes from the lowest to the highest address, gaps
// filled with pad (intelhex's tobinarray with its default padding 0xFF).
func (m *Memory) ToBinary(pad byte) (base uint32, data []byte) {
	lo, hi, ok := m.Span()
	if !ok {
		return 0, nil
	}
	out := bytes.Repeat([]byte{pad}, int(hi-lo)+1)
	for _, s := range m.segs {
		copy(out[s.Addr-lo:], s.Data)
	}
	return lo, out
}

// Marshal writes m as Intel HEX text with LF line ends.
func (m *Memory) Marshal() []byte {
	var b bytes.Buffer
	rec := func(typ byte, off uint16, payload []byte) {
		r := []byte{byte(len(payload)), byte(off >> 8), byte(off), typ}
		r = append(r, payload...)
		var sum byte
		for _, c := range r {
			sum += c
		}
		r = append(r, -sum)
		b.WriteByte(':')
		b.WriteString(strings.ToUpper(hex.EncodeToString(r)))
		b.WriteByte('\n')
	}
	if m.HasStart {
		s := m.StartLinear
		rec(5, 0, []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
	}
	_, hi, ok := m.Span()
	needExt := ok && hi > 0xffff
	high := int64(-1)
	for _, s := range m.segs {
		addr := uint64(s.Addr)
		data := s.Data
		for len(data) > 0 {
			if needExt && int64(addr>>16) != high {
				high = int64(addr >> 16)
				rec(4, 0, []byte{byte(high >> 8), byte(high)})
			}
			low := addr & 0xffff
			n := min(16, len(data), int(0x10000-low))
			rec(0, uint16(low), data[:n])
			data = data[n:]
			addr += uint64(n)
		}
	}
	rec(1, 0, nil)
	return b.Bytes()
}
