package psa

import (
	"errors"
	"fmt"
	"sync"

	"rampart/ipc"
)

// service is a client of one stateless RoT Service (storage, attestation,
// firmware update, lifecycle, audit): every call names the SID and version,
// so no connection handle is kept.
type service struct {
	mu      sync.Mutex
	t       ipc.Transport
	sid     uint32
	version uint32
	name    string
}

// call runs one stateless call and returns copies of the output vectors. A
// non-success status is returned as an error wrapping that ipc.Status.
func (s *service) call(op string, typ int32, in [][]byte, outSize ...int) ([][]byte, error) {
	sizes := make([]uint32, len(outSize))
	for i, n := range outSize {
		sizes[i] = uint32(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		return nil, ErrClosed
	}
	rep, err := s.t.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: s.sid, Version: s.version, Type: typ, In: in, OutSize: sizes})
	if err != nil {
		return nil, fmt.Errorf("psa: %s %s: %w", s.name, op, err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("psa: %s %s: %w", s.name, op, rep.Status)
	}
	if len(rep.Out) != len(sizes) {
		return nil, fmt.Errorf("psa: %s %s: %d output vectors, want %d: %w", s.name, op, len(rep.Out), len(sizes), ErrCommunicationFailure)
	}
	out := make([][]byte, len(rep.Out))
	for i, v := range rep.Out {
		out[i] = append([]byte(nil), v...)
	}
	return out, nil
}

// close closes the transport once.
func (s *service) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		return nil
	}
	err := s.t.Close()
	s.t = nil
	return err
}

// errorIs reports whether err wraps exactly status st.
func errorIs(err error, st ipc.Status) bool {
	var got ipc.Status
	return errors.As(err, &got) && got == st
}
