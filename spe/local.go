package spe

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"rampart/ipc"
)

// LocalConn runs a client's calls in the caller's own process: the same
// frames are encoded, decoded and dispatched to the same services as over
// the socket, but the client ID is whatever the caller of Local chose and no
// operating-system boundary separates the client from the keys. It
// implements ipc.Transport.
type LocalConn struct {
	s      *Server
	mu     sync.Mutex
	closed atomic.Bool
	ss     *session
	wbuf   []byte
	rbuf   []byte
	seq    uint32
}

// Local opens an in-process session for client (its PSA client ID; negative
// for a non-secure client).
func (s *Server) Local(client int32) (*LocalConn, error) {
	if client == 0 {
		return nil, fmt.Errorf("spe: local session: client ID 0 is not allowed")
	}
	ss, err := s.openSession(client, -1, -1)
	if err != nil {
		return nil, fmt.Errorf("spe: local session: %w", err)
	}
	return &LocalConn{s: s, ss: ss}, nil
}

// LocalPartition opens an in-process session for a secure partition
// (isolation level 1): client is its positive partition ID, and the
// session reaches only the SIDs of its manifest's dependencies.
func (s *Server) LocalPartition(client int32, m *PartitionManifest) (*LocalConn, error) {
	if client <= 0 {
		return nil, fmt.Errorf("spe: partition session: partition ID %d is not positive", client)
	}
	l, err := s.Local(client)
	if err != nil {
		return nil, err
	}
	l.ss.deps = m.dependencySet()
	l.ss.name = m.Name
	return l, nil
}

// RoundTrip encodes req, lets the server decode and dispatch it, and decodes
// the reply, exactly as over the socket.
func (l *LocalConn) RoundTrip(req *ipc.Request) (*ipc.Reply, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, fmt.Errorf("spe: local round trip: %w", net.ErrClosed)
	}
	l.seq++
	req.Seq = l.seq
	var err error
	l.wbuf, err = ipc.AppendRequest(l.wbuf[:0], req, l.s.opt.Limits)
	if err != nil {
		return nil, err
	}
	l.rbuf = l.s.handleFrame(l.ss, l.wbuf, l.rbuf[:0])
	return ipc.ParseReply(l.rbuf, l.s.opt.Limits)
}

// Close ends the session: its handles are freed and its observers told. A
// call in progress finishes on the closed session.
func (l *LocalConn) Close() error {
	if !l.closed.Swap(true) {
		l.s.closeSession(l.ss)
	}
	return nil
}
