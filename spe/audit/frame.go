package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// The backing store is a sequence of frames:
//
//	magic 0xA7 | kind u8 | body length u32 | body | CRC-32C u32 (of all before it)
//
// The CRC only tells a torn (half-written) tail from a complete frame; the
// hash chain and the signed checkpoints are what detect tampering.
const (
	frameMagic      = 0xA7
	kindRecord      = 1
	kindCheckpoint  = 2
	frameHeader     = 6
	frameTrailer    = 4
	maxFrameBody    = recordFixed + MaxEventLen + MaxDataLen
	maxFrameOnStore = frameHeader + maxFrameBody + frameTrailer
	// maxAppend is the most one write adds: a record frame and a checkpoint
	// frame (whose signature is at most maxSignature bytes).
	maxAppend    = maxFrameOnStore + frameHeader + checkpointFixed + maxSignature + frameTrailer
	maxSignature = 1024
)

// castagnoli is built on first use, not at program start (every rampart
// command links this package).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

func appendFrame(dst []byte, kind byte, body []byte) []byte {
	start := len(dst)
	dst = append(dst, frameMagic, kind)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli()))
}

// frame is one decoded frame and where it sits in the store.
type frame struct {
	kind   byte
	body   []byte
	offset int64
	size   int64
}

// errTorn marks a frame cut off by the end of the store: the trace of an
// append that never completed.
var errTorn = errors.New("incomplete frame at the end of the store")

// readFrame reads the frame at off. It returns errTorn when the frame runs
// past size (the end of the store), io.EOF at exactly size, and another
// error for a frame that is complete but wrong.
func readFrame(r io.ReaderAt, off, size int64) (*frame, error) {
	if off == size {
		return nil, io.EOF
	}
	if size-off < frameHeader {
		return nil, errTorn
	}
	var hdr [frameHeader]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return nil, fmt.Errorf("reading at %d: %w", off, err)
	}
	if hdr[0] != frameMagic {
		return nil, fmt.Errorf("no frame at offset %d (byte 0x%02x)", off, hdr[0])
	}
	n := int64(binary.BigEndian.Uint32(hdr[2:]))
	if n > maxFrameBody {
		return nil, fmt.Errorf("frame at offset %d declares %d bytes, limit %d", off, n, maxFrameBody)
	}
	total := frameHeader + n + frameTrailer
	if size-off < total {
		return nil, errTorn
	}
	buf := make([]byte, total)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("reading at %d: %w", off, err)
	}
	want := binary.BigEndian.Uint32(buf[total-frameTrailer:])
	if crc32.Checksum(buf[:total-frameTrailer], castagnoli()) != want {
		if off+total == size {
			return nil, errTorn // the last frame, damaged while being written
		}
		return nil, fmt.Errorf("frame at offset %d fails its checksum", off)
	}
	kind := hdr[1]
	if kind != kindRecord && kind != kindCheckpoint {
		return nil, fmt.Errorf("frame at offset %d has unknown kind %d", off, kind)
	}
	return &frame{kind: kind, body: buf[frameHeader : total-frameTrailer], offset: off, size: total}, nil
}
