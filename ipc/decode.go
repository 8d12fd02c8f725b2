package ipc

import "fmt"

// reader walks a frame body and records the first field that failed.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = ferr(field, ErrTruncated, "need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if v := r.take(field, 4); v != nil {
		return le.Uint32(v)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if v := r.take(field, 8); v != nil {
		return le.Uint64(v)
	}
	return 0
}

func (r *reader) zero(field string, n int) {
	if v := r.take(field, n); v != nil {
		for _, c := range v {
			if c != 0 {
				r.err = ferr(field, ErrMalformed, "reserved bytes must be zero")
				return
			}
		}
	}
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = ferr("length", ErrMalformed, "%d bytes after the last field", len(r.b))
	}
	return r.err
}

// FrameLength checks a 4-byte length prefix and returns the length of the
// whole frame (prefix included) it announces.
func FrameLength(prefix []byte, lim Limits) (int, error) {
	if len(prefix) < 4 {
		return 0, ferr("length", ErrTruncated, "need 4 bytes, have %d", len(prefix))
	}
	n := int64(le.Uint32(prefix)) + 4
	if n < HeaderSize {
		return 0, ferr("length", ErrTruncated, "frame of %d bytes is shorter than the %d-byte header", n, HeaderSize)
	}
	if n > int64(lim.frame()) {
		return 0, ferr("length", ErrOversized, "frame of %d bytes, limit %d", n, lim.frame())
	}
	return int(n), nil
}

// parseHeader checks the length, version and reserved bytes of a whole frame
// and returns the kind, sequence number and body.
func parseHeader(frame []byte, lim Limits) (Kind, uint32, *reader, error) {
	n, err := FrameLength(frame, lim)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(frame) != n {
		if len(frame) < n {
			return 0, 0, nil, ferr("length", ErrTruncated, "announces %d bytes, have %d", n, len(frame))
		}
		return 0, 0, nil, ferr("length", ErrMalformed, "announces %d bytes, have %d", n, len(frame))
	}
	if frame[4] != WireVersion {
		return 0, 0, nil, ferr("version", ErrMalformed, "version %d, want %d", frame[4], WireVersion)
	}
	if frame[6] != 0 || frame[7] != 0 {
		return 0, 0, nil, ferr("reserved", ErrMalformed, "reserved bytes must be zero")
	}
	return Kind(frame[5]), le.Uint32(frame[8:]), &reader{b: frame[HeaderSize:]}, nil
}

// PeekSeq returns the sequence number of a frame whose header is complete,
// so a server can answer even a frame it cannot decode.
func PeekSeq(frame []byte) uint32 {
	if len(frame) < HeaderSize {
		return 0
	}
	return le.Uint32(frame[8:])
}

// ParseRequest decodes a whole client frame (length prefix included).
func ParseRequest(frame []byte, lim Limits) (*Request, error) {
	kind, seq, r, err := parseHeader(frame, lim)
	if err != nil {
		return nil, err
	}
	q := &Request{Kind: kind, Seq: seq}
	switch kind {
	case KindVersion:
		q.SID = r.u32("sid")
	case KindConnect:
		q.SID = r.u32("sid")
		q.Version = r.u32("version")
	case KindClose, KindDirectLane:
		q.Handle = r.u64("handle")
	case KindSharedMemory:
	case KindCall, KindStateless:
		if kind == KindCall {
			q.Handle = r.u64("handle")
		} else {
			q.SID = r.u32("sid")
			q.Version = r.u32("version")
		}
		t := r.u32("type")
		nin := int(r.u8("nin"))
		nout := int(r.u8("nout"))
		r.zero("reserved", 2)
		if r.err != nil {
			return nil, r.err
		}
		if int32(t) < 0 || t > MaxCallType {
			return nil, ferr("type", ErrMalformed, "%d is outside 0..%d", int32(t), MaxCallType)
		}
		q.Type = int32(t)
		if nin+nout > MaxIOVec {
			return nil, ferr("nvec", ErrOversized, "%d input and %d output vectors, at most %d in total", nin, nout, MaxIOVec)
		}
		lens := make([]int, nin)
		for i := range lens {
			l := r.u32(fmt.Sprintf("in_len[%d]", i))
			if r.err == nil && int64(l) > int64(lim.vec()) {
				return nil, ferr(fmt.Sprintf("in_len[%d]", i), ErrOversized, "%d bytes, limit %d", l, lim.vec())
			}
			lens[i] = int(l)
		}
		if nout > 0 {
			q.OutSize = make([]uint32, nout)
		}
		var total int64
		for i := range q.OutSize {
			q.OutSize[i] = r.u32(fmt.Sprintf("out_size[%d]", i))
			if r.err == nil && int64(q.OutSize[i]) > int64(lim.vec()) {
				return nil, ferr(fmt.Sprintf("out_size[%d]", i), ErrOversized, "%d bytes, limit %d", q.OutSize[i], lim.vec())
			}
			total += int64(q.OutSize[i])
		}
		if r.err == nil && total+replyOverhead > int64(lim.frame()) {
			return nil, ferr("out_size", ErrOversized, "outputs of %d bytes in total would not fit a %d-byte reply frame", total, lim.frame())
		}
		if nin > 0 {
			q.In = make([][]byte, nin)
		}
		for i := range q.In {
			q.In[i] = r.take(fmt.Sprintf("in[%d]", i), lens[i])
		}
	default:
		return nil, ferr("kind", ErrMalformed, "%v is not a request kind", kind)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseReply decodes a whole server frame (length prefix included).
func ParseReply(frame []byte, lim Limits) (*Reply, error) {
	kind, seq, r, err := parseHeader(frame, lim)
	if err != nil {
		return nil, err
	}
	p := &Reply{Seq: seq}
	if kind == KindError {
		p.Kind = KindError
	} else if kind&KindReply == 0 {
		return nil, ferr("kind", ErrMalformed, "%v is not a reply kind", kind)
	} else {
		p.Kind = kind &^ KindReply
	}
	p.Status = Status(int32(r.u32("status")))
	switch p.Kind {
	case KindVersion:
		p.Version = r.u32("version")
	case KindConnect:
		p.Handle = r.u64("handle")
	case KindSharedMemory, KindDirectLane:
		p.Slot = r.u32("slot")
	case KindClose, KindError:
	case KindCall, KindStateless:
		nout := int(r.u8("nout"))
		r.zero("reserved", 3)
		if r.err != nil {
			return nil, r.err
		}
		if nout > MaxIOVec {
			return nil, ferr("nout", ErrOversized, "%d output vectors, at most %d", nout, MaxIOVec)
		}
		lens := make([]int, nout)
		for i := range lens {
			l := r.u32(fmt.Sprintf("out_len[%d]", i))
			if r.err == nil && int64(l) > int64(lim.vec()) {
				return nil, ferr(fmt.Sprintf("out_len[%d]", i), ErrOversized, "%d bytes, limit %d", l, lim.vec())
			}
			lens[i] = int(l)
		}
		if nout > 0 {
			p.Out = make([][]byte, nout)
		}
		for i := range p.Out {
			p.Out[i] = r.take(fmt.Sprintf("out[%d]", i), lens[i])
		}
	default:
		return nil, ferr("kind", ErrMalformed, "%v is not a reply kind", kind)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}
