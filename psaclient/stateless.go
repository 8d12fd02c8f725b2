package psaclient

import (
	"errors"
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
	req := &ipc.Request{Kind: ipc.KindStateless, SID: s.sid, Version: s.version, Type: typ, In: in, OutSize: sizes(outSize)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		return nil, ErrClosed
	}
	return roundTrip(s.t, req, s.name, op)
}

// parse decodes output vector b of call op with a psa layout parser; a
// vector that does not match is the SPE's communication failure.
func parse[T any](s *service, op string, b []byte, p func([]byte) (T, error)) (T, error) {
	v, err := p(b)
	if err != nil {
		return v, malformed(callName(s.name, op), err)
	}
	return v, nil
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
