package ipc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Transport carries one request to the SPE and brings back its reply. The
// reply (its Out vectors) is valid only until the next RoundTrip on the same
// Transport. A Transport is safe for concurrent use; calls are serialized.
type Transport interface {
	RoundTrip(req *Request) (*Reply, error)
	Close() error
}

// ReadFrame reads one whole frame (length prefix included) from br into buf,
// growing buf as needed, and returns it. A frame whose prefix exceeds lim is
// refused before anything more is read.
func ReadFrame(br *bufio.Reader, buf []byte, lim Limits) ([]byte, error) {
	prefix, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) && len(prefix) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	n, err := FrameLength(prefix, lim)
	if err != nil {
		return buf, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// Conn is the client end of a connection to the SPE over a stream socket.
type Conn struct {
	mu     sync.Mutex
	closed atomic.Bool
	c      net.Conn
	br     *bufio.Reader
	wbuf   []byte
	rbuf   []byte
	seq    uint32
	lim    Limits
}

// Dial connects to the SPE's Unix socket at path.
func Dial(path string) (*Conn, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	return NewConn(c, Limits{}), nil
}

// NewConn wraps an established stream connection to the SPE.
func NewConn(c net.Conn, lim Limits) *Conn {
	return &Conn{c: c, br: bufio.NewReaderSize(c, 64<<10), lim: lim}
}

// RoundTrip sends req with the next sequence number and waits for its reply.
func (c *Conn) RoundTrip(req *Request) (*Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, fmt.Errorf("ipc: round trip: %w", net.ErrClosed)
	}
	c.seq++
	req.Seq = c.seq
	var err error
	c.wbuf, err = AppendRequest(c.wbuf[:0], req, c.lim)
	if err != nil {
		return nil, err
	}
	if _, err := c.c.Write(c.wbuf); err != nil {
		// The SPE may have refused the connection and hung up before we
		// wrote: its error frame is then still waiting to be read.
		if rep := c.pendingRefusal(); rep != nil {
			return rep, nil
		}
		return nil, fmt.Errorf("ipc: send %v: %w", req.Kind, err)
	}
	c.rbuf, err = ReadFrame(c.br, c.rbuf, c.lim)
	if err != nil {
		return nil, fmt.Errorf("ipc: receive %v reply: %w", req.Kind, err)
	}
	rep, err := ParseReply(c.rbuf, c.lim)
	if err != nil {
		return nil, err
	}
	if rep.Kind == KindError && rep.Seq == 0 {
		// The SPE refused the connection itself (unknown peer, too many
		// sessions) before reading any request.
		return rep, nil
	}
	if rep.Seq != req.Seq {
		return nil, fmt.Errorf("ipc: reply seq %d to request seq %d: %w", rep.Seq, req.Seq, ErrMalformed)
	}
	if rep.Kind != req.Kind && rep.Kind != KindError {
		return nil, fmt.Errorf("ipc: %v reply to a %v request: %w", rep.Kind, req.Kind, ErrMalformed)
	}
	return rep, nil
}

// pendingRefusal returns an unsolicited error frame (sequence 0) already
// sent by the SPE, if there is one.
func (c *Conn) pendingRefusal() *Reply {
	c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	defer c.c.SetReadDeadline(time.Time{})
	f, err := ReadFrame(c.br, nil, c.lim)
	if err != nil {
		return nil
	}
	rep, err := ParseReply(f, c.lim)
	if err != nil || rep.Kind != KindError || rep.Seq != 0 {
		return nil
	}
	return rep
}

// Close closes the connection; the SPE then frees every handle of it. It
// does not wait for a round trip in progress, which fails.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.c.Close()
}
