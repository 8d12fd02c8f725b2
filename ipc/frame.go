package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wire constants; docs/spe-ipc.md is the specification.
const (
	// WireVersion is the only frame version this package speaks.
	WireVersion = 1
	// HeaderSize is the fixed part of every frame: length, version, kind,
	// reserved and sequence number.
	HeaderSize = 12
	// MaxIOVec is PSA_MAX_IOVEC: input plus output vectors of one call.
	MaxIOVec = 4
	// DefaultMaxVec bounds each input vector and each requested output size.
	DefaultMaxVec = 1 << 20
	// DefaultMaxFrame bounds a whole frame, length prefix included: the
	// vectors of one request (or of its reply) share about 1 MiB.
	DefaultMaxFrame = DefaultMaxVec + 1024
	// replyOverhead is the most a reply frame adds to its output vectors.
	replyOverhead = HeaderSize + 8 + 4*MaxIOVec
	// MaxCallType is INT16_MAX: PSA_IPC_CALL (0) and up are the call types a
	// client may send; negative types are reserved to the framework.
	MaxCallType = 1<<15 - 1
)

// Kind is a frame's kind. A reply has the request's kind with KindReply set.
type Kind uint8

// Frame kinds.
const (
	KindVersion   Kind = 0x01 // psa_version(sid)
	KindConnect   Kind = 0x02 // psa_connect(sid, version)
	KindCall      Kind = 0x03 // psa_call(handle, type, in, out)
	KindClose     Kind = 0x04 // psa_close(handle)
	KindStateless Kind = 0x05 // a call on a stateless service: sid, version, type, in, out
	// KindSharedMemory asks the SPE for a shared-memory lane (no body); the
	// reply carries the slot size and, over the Unix socket, the memfd
	// (SCM_RIGHTS). docs/spe-ipc.md section 1.
	KindSharedMemory Kind = 0x06
	// KindDirectLane asks the partition manager for a direct lane to the
	// partition process serving a handle (body: the handle); the reply
	// carries the slot size and, over the Unix socket, the lane's memfd
	// (SCM_RIGHTS). docs/spe-isolation.md section 1, "Direct lanes".
	KindDirectLane Kind = 0x07
	KindReply      Kind = 0x80 // set on every reply
	KindError      Kind = 0xff // reply to a frame that could not be decoded
)

func (k Kind) String() string {
	switch k &^ KindReply {
	case KindVersion:
		return "version"
	case KindConnect:
		return "connect"
	case KindCall:
		return "call"
	case KindClose:
		return "close"
	case KindStateless:
		return "stateless"
	case KindSharedMemory:
		return "shared_memory"
	case KindDirectLane:
		return "direct_lane"
	}
	if k == KindError {
		return "error"
	}
	return fmt.Sprintf("kind(0x%02x)", uint8(k))
}

// Sentinel errors of the frame codec, wrapped in a *FrameError.
var (
	ErrTruncated = errors.New("truncated")
	ErrOversized = errors.New("over the limit")
	ErrMalformed = errors.New("malformed")
)

// FrameError names the frame field that was wrong.
type FrameError struct {
	Field string
	Err   error
	Info  string
}

func (e *FrameError) Error() string {
	if e.Info != "" {
		return fmt.Sprintf("ipc: frame field %s: %v: %s", e.Field, e.Err, e.Info)
	}
	return fmt.Sprintf("ipc: frame field %s: %v", e.Field, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

func ferr(field string, err error, format string, args ...any) error {
	return &FrameError{Field: field, Err: err, Info: fmt.Sprintf(format, args...)}
}

// Limits bounds what a decoder accepts. The zero value means the defaults.
type Limits struct {
	MaxFrame int // whole frame including the length prefix
	MaxVec   int // each input vector and each requested output size
}

func (l Limits) frame() int {
	if l.MaxFrame <= 0 {
		return DefaultMaxFrame
	}
	return l.MaxFrame
}

func (l Limits) vec() int {
	if l.MaxVec <= 0 {
		return DefaultMaxVec
	}
	return l.MaxVec
}

// Request is a decoded client frame. Only the fields of its Kind are set.
// In aliases the frame it was parsed from.
type Request struct {
	Kind    Kind
	Seq     uint32
	SID     uint32   // version, connect, stateless
	Version uint32   // connect, stateless
	Handle  uint64   // call, close
	Type    int32    // call, stateless
	In      [][]byte // call, stateless
	OutSize []uint32 // call, stateless
}

// Reply is a decoded server frame. Kind is the request's kind (without
// KindReply) or KindError. Out aliases the frame it was parsed from.
type Reply struct {
	Kind    Kind
	Seq     uint32
	Status  Status
	Version uint32   // version reply
	Handle  uint64   // connect reply
	Out     [][]byte // call and stateless replies
	Slot    uint32   // shared-memory reply: the bytes a slot holds
}

var le = binary.LittleEndian

func appendHeader(dst []byte, kind Kind, seq uint32) []byte {
	dst = append(dst, 0, 0, 0, 0, WireVersion, byte(kind), 0, 0)
	return le.AppendUint32(dst, seq)
}

func finish(b []byte, start int) []byte {
	le.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// AppendRequest appends r's frame to dst. It refuses requests that a
// decoder with lim would refuse, so a client fails before sending.
func AppendRequest(dst []byte, r *Request, lim Limits) ([]byte, error) {
	start := len(dst)
	b := appendHeader(dst, r.Kind, r.Seq)
	switch r.Kind {
	case KindVersion:
		b = le.AppendUint32(b, r.SID)
	case KindConnect:
		b = le.AppendUint32(b, r.SID)
		b = le.AppendUint32(b, r.Version)
	case KindClose, KindDirectLane:
		b = le.AppendUint64(b, r.Handle)
	case KindSharedMemory:
	case KindCall, KindStateless:
		if len(r.In)+len(r.OutSize) > MaxIOVec {
			return dst, ferr("nvec", ErrOversized, "%d input and %d output vectors, at most %d in total", len(r.In), len(r.OutSize), MaxIOVec)
		}
		if r.Type < 0 || r.Type > MaxCallType {
			return dst, ferr("type", ErrMalformed, "%d is outside 0..%d", r.Type, MaxCallType)
		}
		if r.Kind == KindCall {
			b = le.AppendUint64(b, r.Handle)
		} else {
			b = le.AppendUint32(b, r.SID)
			b = le.AppendUint32(b, r.Version)
		}
		b = le.AppendUint32(b, uint32(r.Type))
		b = append(b, byte(len(r.In)), byte(len(r.OutSize)), 0, 0)
		for i, v := range r.In {
			if len(v) > lim.vec() {
				return dst, ferr(fmt.Sprintf("in[%d]", i), ErrOversized, "%d bytes, limit %d", len(v), lim.vec())
			}
			b = le.AppendUint32(b, uint32(len(v)))
		}
		var total int64
		for i, n := range r.OutSize {
			if int64(n) > int64(lim.vec()) {
				return dst, ferr(fmt.Sprintf("out_size[%d]", i), ErrOversized, "%d bytes, limit %d", n, lim.vec())
			}
			total += int64(n)
			b = le.AppendUint32(b, n)
		}
		if total+replyOverhead > int64(lim.frame()) {
			return dst, ferr("out_size", ErrOversized, "outputs of %d bytes in total would not fit a %d-byte reply frame", total, lim.frame())
		}
		for _, v := range r.In {
			b = append(b, v...)
		}
	default:
		return dst, ferr("kind", ErrMalformed, "%v is not a request", r.Kind)
	}
	if len(b)-start > lim.frame() {
		return dst, ferr("length", ErrOversized, "frame of %d bytes, limit %d", len(b)-start, lim.frame())
	}
	return finish(b, start), nil
}

// AppendReply appends r's frame to dst.
func AppendReply(dst []byte, r *Reply) []byte {
	start := len(dst)
	kind := r.Kind | KindReply
	if r.Kind == KindError {
		kind = KindError
	}
	b := appendHeader(dst, kind, r.Seq)
	b = le.AppendUint32(b, uint32(r.Status))
	switch r.Kind {
	case KindVersion:
		b = le.AppendUint32(b, r.Version)
	case KindConnect:
		b = le.AppendUint64(b, r.Handle)
	case KindSharedMemory, KindDirectLane:
		b = le.AppendUint32(b, r.Slot)
	case KindCall, KindStateless:
		b = append(b, byte(len(r.Out)), 0, 0, 0)
		for _, v := range r.Out {
			b = le.AppendUint32(b, uint32(len(v)))
		}
		for _, v := range r.Out {
			b = append(b, v...)
		}
	}
	return finish(b, start)
}
