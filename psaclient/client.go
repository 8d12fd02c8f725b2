package psaclient

import (
	"errors"
	"fmt"
	"sync"

	"rampart/ipc"
	"rampart/psa"
)

// Client is a connection to the SPE's crypto service. It is safe for
// concurrent use; its calls are serialized on one connection.
type Client struct {
	mu     sync.Mutex
	t      ipc.Transport
	handle uint64
}

// Dial connects to the SPE listening on the Unix socket at path.
func Dial(path string) (*Client, error) {
	conn, err := ipc.Dial(path)
	if err != nil {
		return nil, fmt.Errorf("psaclient: %w", err)
	}
	c, err := NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient connects to the crypto service over t (a socket connection or an
// in-process session). Closing the Client closes t.
func NewClient(t ipc.Transport) (*Client, error) {
	rep, err := t.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: psa.CryptoSID, Version: psa.CryptoVersion})
	if err != nil {
		return nil, fmt.Errorf("psaclient: connect: %w", err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("psaclient: connect to crypto service: %w", rep.Status)
	}
	return &Client{t: t, handle: rep.Handle}, nil
}

// Close closes the connection handle and the transport. Volatile keys created
// through this connection are destroyed by the SPE.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil
	}
	_, err := c.t.RoundTrip(&ipc.Request{Kind: ipc.KindClose, Handle: c.handle})
	if cerr := c.t.Close(); err == nil {
		err = cerr
	}
	c.t = nil
	return err
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("psaclient: client is closed")

// call runs one crypto operation and returns copies of the output vectors.
// Input vector 0 is h encoded by op's layout (psa.AppendCryptoHeader) when
// h is not nil; data are the vectors after it. data is only read, so a
// caller's literal stays on its stack.
func (c *Client) call(name string, op psa.Op, h *psa.CryptoHeader, data [][]byte, outSize ...int) ([][]byte, error) {
	n := len(data)
	if h != nil {
		n++
	}
	var in [][]byte
	if n > 0 {
		in = make([][]byte, 0, n)
		if h != nil {
			in = append(in, psa.AppendCryptoHeader(nil, op, *h))
		}
		in = append(in, data...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil, ErrClosed
	}
	return roundTrip(c.t, &ipc.Request{Kind: ipc.KindCall, Handle: c.handle, Type: int32(op), In: in, OutSize: sizes(outSize)}, "", name)
}

// roundTrip sends req and returns copies of the output vectors of a
// successful reply; any other status is returned as an error wrapping that
// ipc.Status. svc (empty for the crypto service) and op name the call in
// errors.
func roundTrip(t ipc.Transport, req *ipc.Request, svc, op string) ([][]byte, error) {
	rep, err := t.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("psaclient: %s: %w", callName(svc, op), err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("psaclient: %s: %w", callName(svc, op), rep.Status)
	}
	if len(rep.Out) != len(req.OutSize) {
		return nil, fmt.Errorf("psaclient: %s: %d output vectors, want %d: %w", callName(svc, op), len(rep.Out), len(req.OutSize), psa.ErrCommunicationFailure)
	}
	out := make([][]byte, len(rep.Out))
	for i, v := range rep.Out {
		out[i] = append([]byte(nil), v...)
	}
	return out, nil
}

// callName is how errors name a call: "sign_hash", "its get".
func callName(svc, op string) string {
	if svc == "" {
		return op
	}
	return svc + " " + op
}

func sizes(outSize []int) []uint32 {
	s := make([]uint32, len(outSize))
	for i, n := range outSize {
		s[i] = uint32(n)
	}
	return s
}

// malformed reports an output vector that does not match its layout: the
// SPE's reply is a communication failure.
func malformed(what string, err error) error {
	return fmt.Errorf("psaclient: %s: %w: %w", what, psa.ErrCommunicationFailure, err)
}

// parseID decodes a key or operation ID output.
func parseID(name string, b []byte) (uint32, error) {
	v, err := psa.ParseUint32(b)
	if err != nil {
		return 0, malformed(name, err)
	}
	return v, nil
}
