package spe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"rampart/ipc"
)

// The link between the SPM and a partition process (isolation levels 2 and
// 3, docs/spe-isolation.md) carries the IPC frames of docs/spe-ipc.md
// unchanged, each behind a 20-byte routing header, so the partition knows
// which session and which client a call belongs to (a frame never says who
// sent it; the SPM does, from the kernel):
//
//	u32 length (bytes after this field), u8 op, u8[3] reserved (0),
//	u64 session, i32 client, then the payload (an ipc frame, or JSON for
//	linkHello and linkReady).
const linkHeader = 20

// Link operations.
const (
	linkCall     byte = 1 // SPM → partition: a stateless-shaped ipc request for a service of the partition
	linkReply    byte = 2 // partition → SPM: its ipc reply
	linkEnd      byte = 3 // SPM → partition: the session ended (no payload)
	linkOut      byte = 4 // partition → SPM: a request of the partition's own session (it calls another service)
	linkOutReply byte = 5 // SPM → partition: the reply to linkOut
	linkOutEnd   byte = 6 // partition → SPM: the partition closed that session of its own
	linkHello    byte = 7 // SPM → partition: what to run (JSON), the first frame
	linkReady    byte = 8 // partition → SPM: started, or why not (JSON)
	linkShm      byte = 9 // SPM → partition, before linkHello: the shared-memory lanes it passed (JSON)
	// Direct lanes (direct.go): linkBind carries a lane's descriptors
	// (SCM_RIGHTS) and, in the header, the session and client it serves.
	linkBind       byte = 10 // SPM → partition: serve this direct lane (JSON bindMsg)
	linkUnbind     byte = 11 // SPM → partition: stop serving it (JSON bindMsg, id only)
	linkBindFailed byte = 12 // partition → SPM: it could not map the lane (JSON bindMsg, id only)
	linkMaxOp           = linkBindFailed
)

// errLink is wrapped by every malformed link frame: the link is then
// dropped (the partition process is restarted).
var errLink = errors.New("spe: malformed link frame")

type linkFrame struct {
	op      byte
	session uint64
	client  int32
	payload []byte // aliases the read buffer
}

// maxLinkFrame bounds a link frame: an ipc frame of lim behind the header.
func maxLinkFrame(lim ipc.Limits) int {
	n := lim.MaxFrame
	if n <= 0 {
		n = ipc.DefaultMaxFrame
	}
	return n + linkHeader
}

func appendLinkFrame(dst []byte, op byte, session uint64, client int32, payload []byte) []byte {
	var h [linkHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(linkHeader-4+len(payload)))
	h[4] = op
	binary.LittleEndian.PutUint64(h[8:], session)
	binary.LittleEndian.PutUint32(h[16:], uint32(client))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// parseLinkHeader checks a link frame's header and returns the size of
// its payload.
func parseLinkHeader(h []byte, lim ipc.Limits) (int, error) {
	n := int(binary.LittleEndian.Uint32(h[0:]))
	if n < linkHeader-4 || n+4 > maxLinkFrame(lim) {
		return 0, fmt.Errorf("%w: length %d", errLink, n)
	}
	if h[5] != 0 || h[6] != 0 || h[7] != 0 || h[4] == 0 || h[4] > linkMaxOp {
		return 0, fmt.Errorf("%w: op %d", errLink, h[4])
	}
	return n - (linkHeader - 4), nil
}

// parseLinkFrame decodes one whole link frame taken from a shared-memory
// lane (already copied out of shared memory): the header, and a payload
// that fills the rest exactly. The payload aliases b.
func parseLinkFrame(b []byte, lim ipc.Limits) (linkFrame, error) {
	if len(b) < linkHeader {
		return linkFrame{}, fmt.Errorf("%w: %d bytes", errLink, len(b))
	}
	size, err := parseLinkHeader(b, lim)
	if err != nil {
		return linkFrame{}, err
	}
	if size != len(b)-linkHeader {
		return linkFrame{}, fmt.Errorf("%w: payload of %d bytes announced, %d present", errLink, size, len(b)-linkHeader)
	}
	return linkFrame{op: b[4], session: binary.LittleEndian.Uint64(b[8:]), client: int32(binary.LittleEndian.Uint32(b[16:])), payload: b[linkHeader:]}, nil
}

// readLinkFrame reads one link frame into buf (grown as needed).
func readLinkFrame(br *bufio.Reader, buf []byte, lim ipc.Limits) (linkFrame, []byte, error) {
	var h [linkHeader]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return linkFrame{}, buf, err
	}
	size, err := parseLinkHeader(h[:], lim)
	if err != nil {
		return linkFrame{}, buf, err
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(br, buf); err != nil {
		return linkFrame{}, buf, fmt.Errorf("spe: link: %w", io.ErrUnexpectedEOF)
	}
	f := linkFrame{op: h[4], session: binary.LittleEndian.Uint64(h[8:]), client: int32(binary.LittleEndian.Uint32(h[16:])), payload: buf}
	return f, buf, nil
}
