package psa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"rampart/ipc"
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
		return nil, fmt.Errorf("psa: %w", err)
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
	rep, err := t.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: CryptoSID, Version: CryptoVersion})
	if err != nil {
		return nil, fmt.Errorf("psa: connect: %w", err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("psa: connect to crypto service: %w", rep.Status)
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
var ErrClosed = errors.New("psa: client is closed")

// call runs one crypto operation and returns copies of the output vectors.
func (c *Client) call(name string, op Op, in [][]byte, outSize ...int) ([][]byte, error) {
	sizes := make([]uint32, len(outSize))
	for i, n := range outSize {
		sizes[i] = uint32(n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil, ErrClosed
	}
	rep, err := c.t.RoundTrip(&ipc.Request{Kind: ipc.KindCall, Handle: c.handle, Type: int32(op), In: in, OutSize: sizes})
	if err != nil {
		return nil, fmt.Errorf("psa: %s: %w", name, err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("psa: %s: %w", name, rep.Status)
	}
	if len(rep.Out) != len(sizes) {
		return nil, fmt.Errorf("psa: %s: %d output vectors, want %d: %w", name, len(rep.Out), len(sizes), ErrCommunicationFailure)
	}
	out := make([][]byte, len(rep.Out))
	for i, v := range rep.Out {
		out[i] = append([]byte(nil), v...)
	}
	return out, nil
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func keyAlg(id KeyID, alg Algorithm) []byte { return u32s(uint32(id), uint32(alg)) }

func parseID(name string, b []byte) (KeyID, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("psa: %s: key ID of %d bytes: %w", name, len(b), ErrCommunicationFailure)
	}
	return KeyID(binary.LittleEndian.Uint32(b)), nil
}
