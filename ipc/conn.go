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

	"rampart/internal/shmring"
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

	// The shared-memory lane (shm.go), nil when calls use the socket only.
	region *shmring.Region
	lane   *shmring.Lane
	waiter *shmring.Waiter
	last   uint32 // the reply slot's last sequence number
	// refused is the SPE's refusal of the connection, read during the
	// lane's handshake: the first call returns it, later ones fail.
	refused *Reply
	broken  error // the handshake left the stream unusable

	// Direct lanes to partition processes, by handle (direct.go); a nil
	// entry: asked and refused, or revoked.
	direct      map[uint64]*directLane
	noDirect    bool
	directCalls atomic.Uint64
}

// Dial connects to the SPE's Unix socket at path, with a shared-memory lane
// when the SPE offers one (DialWith; RAMPART_SPE_SHM=0 keeps calls on the
// socket).
func Dial(path string) (*Conn, error) {
	return DialWith(path, dialOptionsFromEnv())
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
	if c.refused != nil {
		rep := c.refused
		c.refused, c.broken = nil, errRefused
		return rep, nil
	}
	if c.broken != nil {
		return nil, fmt.Errorf("ipc: round trip: %w", c.broken)
	}
	var d *directLane
	key, direct := laneKey(req)
	if direct {
		d = c.directFor(key)
	}
	c.seq++
	req.Seq = c.seq
	var err error
	c.wbuf, err = AppendRequest(c.wbuf[:0], req, c.lim)
	if err != nil {
		return nil, err
	}
	if d != nil && c.fits(req, d.lane) {
		retry, err := c.roundTripDirect(req, key, d)
		if err != nil {
			return nil, fmt.Errorf("ipc: call over a direct lane: %w", err)
		}
		if !retry {
			return c.checkReply(req)
		}
	}
	if req.Kind == KindClose && c.direct != nil {
		c.dropDirect(req.Handle)
		delete(c.direct, req.Handle)
	}
	if c.fitsLane(req) {
		if err := c.roundTripLane(); err != nil {
			return nil, fmt.Errorf("ipc: %v over shared memory: %w", req.Kind, err)
		}
		return c.checkReply(req)
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
	return c.checkReply(req)
}

// checkReply decodes the reply frame in c.rbuf and checks it answers req.
func (c *Conn) checkReply(req *Request) (*Reply, error) {
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
	err := c.c.Close()
	if c.lane != nil {
		c.lane.Rep.Wake() // a call sleeping for its reply sees closed
		go func() {
			// Unmapped only once no call uses the lane.
			c.mu.Lock()
			c.region.Close()
			c.lane = nil
			for h := range c.direct {
				c.dropDirect(h)
			}
			c.mu.Unlock()
		}()
	}
	return err
}
