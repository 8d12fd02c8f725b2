package spe

import (
	"rampart/ipc"
)

// Handler is a RoT Service's code. Call runs with the kernel-derived client
// ID in m.Client; it reads m.In, writes its results with m.Write and returns
// a PSA status. Calls from one connection arrive one at a time; calls from
// different connections may run concurrently.
type Handler interface {
	Call(m *Message) ipc.Status
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(m *Message) ipc.Status

// Call calls f(m).
func (f HandlerFunc) Call(m *Message) ipc.Status { return f(m) }

// SessionObserver is implemented by handlers that keep per-connection state
// (volatile keys, open operations): SessionClosed runs once when a client's
// connection ends, however it ends.
type SessionObserver interface {
	SessionClosed(s SessionInfo)
}

// SessionInfo identifies one client connection.
type SessionInfo struct {
	ID     uint64 // unique for the server's lifetime
	Client int32  // PSA client ID (negative for non-secure clients)
	UID    int    // peer uid from SO_PEERCRED, -1 in process
	PID    int    // peer pid from SO_PEERCRED, -1 in process
}

// Message is one call delivered to a Handler.
type Message struct {
	Client  int32    // PSA client ID of the caller, from the kernel
	Session uint64   // the connection the call came on
	Type    int32    // the call type (an operation code of the service)
	In      [][]byte // input vectors: valid only during Call, copy to keep
	OutSize []uint32 // the sizes of the caller's output buffers
	Out     [][]byte // set through Write

	cause error // set through Fail: why the call failed, for the SPE's log
}

// Fail records err as the reason the call fails, for the SPE's log (the
// caller sees only a status), and returns st. A service calls it where the
// status alone would leave an operator guessing (a service failure, a bad
// state); a caller's own mistake needs no log line.
func (m *Message) Fail(st ipc.Status, err error) ipc.Status {
	m.cause = err
	return st
}

// NumIn returns the number of input vectors.
func (m *Message) NumIn() int { return len(m.In) }

// InVec returns input vector i, or nil when the caller sent fewer.
func (m *Message) InVec(i int) []byte {
	if i < 0 || i >= len(m.In) {
		return nil
	}
	return m.In[i]
}

// Write sets output vector i. It returns ErrBufferTooSmall when the caller's
// buffer is smaller than b and ErrInvalidArgument when there is no vector i.
func (m *Message) Write(i int, b []byte) ipc.Status {
	if i < 0 || i >= len(m.OutSize) {
		return ipc.ErrInvalidArgument
	}
	if int64(len(b)) > int64(m.OutSize[i]) {
		return ipc.ErrBufferTooSmall
	}
	if m.Out == nil {
		m.Out = make([][]byte, len(m.OutSize))
	}
	m.Out[i] = b
	return ipc.Success
}
