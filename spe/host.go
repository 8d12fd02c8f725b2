package spe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// PartitionLink is a partition process's end of its link to the SPM
// (isolation levels 2 and 3): it reads what to run (Hello), then serves the
// services registered on a Server to the SPM (Serve), and lets the
// partitions it hosts call other services through the SPM (Caller).
//
// The process trusts the SPM for who calls (the client ID and session of
// each call) and for the manifest checks (the SPM refuses a client the
// manifest does not allow, a version it does not accept, a handle of
// another connection); it never trusts anything else.
type PartitionLink struct {
	conn io.ReadWriteCloser
	br   *bufio.Reader
	lim  ipc.Limits

	wmu  sync.Mutex
	wbuf []byte

	mu       sync.Mutex
	sessions map[uint64]*session // the SPM's session ID → this process's session
	out      map[uint64]chan []byte
	closed   bool
	nextOut  atomic.Uint64
	done     chan struct{}
	lanes    *shmring.Region // nil: every call comes over the socket
	// opened, when set (ServeOpening), is closed once the partitions have
	// opened: calls, on the socket or a lane, wait for it. afterReady
	// starts the opening.
	opened     chan struct{}
	afterReady func()

	fr     *fdReader              // nil when the link is not a Unix socket: no direct lanes
	direct map[uint32]*servedLane // direct lanes served (direct_host.go), guarded by mu
}

// NewPartitionLink wraps the partition process's end of the link.
func NewPartitionLink(conn io.ReadWriteCloser, lim ipc.Limits) *PartitionLink {
	l := &PartitionLink{conn: conn, lim: lim,
		sessions: map[uint64]*session{}, out: map[uint64]chan []byte{}, done: make(chan struct{})}
	var r io.Reader = conn
	if uc, ok := conn.(*net.UnixConn); ok {
		l.fr = &fdReader{uc: uc, oob: make([]byte, unix.CmsgSpace(4*16))}
		r = l.fr
	}
	l.br = bufio.NewReaderSize(r, 64<<10)
	return l
}

// Hello reads the SPM's first frame: what this process is to run (after
// the shared-memory lanes, when the SPM passed them).
func (l *PartitionLink) Hello() ([]byte, error) {
	f, _, err := readLinkFrame(l.br, nil, l.lim)
	if err != nil {
		return nil, fmt.Errorf("spe: partition: hello: %w", err)
	}
	if f.op == linkShm {
		if r, err := openLanes(f.payload); err == nil {
			l.lanes = r // else every call comes over the socket
		}
		if f, _, err = readLinkFrame(l.br, nil, l.lim); err != nil {
			return nil, fmt.Errorf("spe: partition: hello: %w", err)
		}
	}
	if f.op != linkHello {
		return nil, fmt.Errorf("%w: op %d before hello", errLink, f.op)
	}
	return f.payload, nil
}

type readyMsg struct {
	Error string `json:"error,omitempty"`
	Lanes int    `json:"lanes,omitempty"` // the shared-memory lanes it serves
}

func (l *PartitionLink) send(op byte, session uint64, client int32, payload []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wbuf = appendLinkFrame(l.wbuf[:0], op, session, client, payload)
	_, err := l.conn.Write(l.wbuf)
	return err
}

// Serve tells the SPM the process started (or, when startErr is not nil,
// why it did not, and returns it), then serves srv's services until the
// link ends.
func (l *PartitionLink) Serve(srv *Server, startErr error) error {
	var r readyMsg
	if startErr != nil {
		r.Error = startErr.Error()
	} else if l.lanes != nil {
		r.Lanes = len(l.lanes.Lanes())
	}
	b, _ := json.Marshal(r)
	if err := l.send(linkReady, 0, 0, b); err != nil {
		return fmt.Errorf("spe: partition: ready: %w", err)
	}
	if startErr != nil {
		return startErr
	}
	defer l.shut(srv)
	if l.afterReady != nil {
		l.afterReady()
	}
	if l.lanes != nil {
		for _, lane := range l.lanes.Lanes() {
			go l.serveLane(srv, lane)
		}
	}
	var buf []byte
	for {
		var f linkFrame
		var err error
		f, buf, err = readLinkFrame(l.br, buf, l.lim)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		switch f.op {
		case linkCall:
			frame := append([]byte(nil), f.payload...)
			go l.call(srv, f.session, f.client, frame)
		case linkBind:
			if err := l.bind(srv, f); err != nil {
				return err
			}
		case linkUnbind:
			m, err := bindPayload(f.payload)
			if err != nil {
				return err
			}
			l.unbind(func(d *servedLane) bool { return d.id == m.ID && d.session == f.session }, false)
		case linkEnd:
			lanes := l.unbind(func(d *servedLane) bool { return d.session == f.session }, true)
			if len(lanes) == 0 {
				l.endSession(srv, f.session)
				break
			}
			// A call on a direct lane may be running (and calling through
			// this loop): the session ends once it is done.
			go func(id uint64) {
				for _, d := range lanes {
					<-d.done
				}
				l.endSession(srv, id)
			}(f.session)
		case linkOutReply:
			l.mu.Lock()
			ch := l.out[f.session]
			l.mu.Unlock()
			if ch != nil {
				select {
				case ch <- append([]byte(nil), f.payload...):
				default: // a reply nobody waits for: the SPM misbehaves
				}
			}
		default:
			return fmt.Errorf("%w: op %d from the SPM", errLink, f.op)
		}
	}
}

// ServeOpening is Serve for a process whose partitions open by calling
// other partitions through the SPM (isolation level 3: the crypto
// partition asks the root key partition for its store key): it says ready
// at once, runs open beside the serving loop, and holds every call until
// open returns. An open that fails ends the link (the SPM restarts the
// process, backing off) and is returned.
func (l *PartitionLink) ServeOpening(srv *Server, open func() error) error {
	l.opened = make(chan struct{})
	var openErr error
	started := false
	l.afterReady = func() {
		started = true
		go func() {
			defer close(l.opened)
			if openErr = open(); openErr != nil {
				l.conn.Close()
			}
		}()
	}
	err := l.Serve(srv, nil)
	// The link ended: an opening still under way sees its calls fail and
	// returns; its error, if any, is the reason.
	if !started {
		return err // the ready frame never went
	}
	<-l.opened
	if openErr != nil {
		return openErr
	}
	return err
}

// shut ends every session when the link goes: the services forget them.
func (l *PartitionLink) shut(srv *Server) {
	l.mu.Lock()
	l.closed = true
	ss := l.sessions
	l.sessions = map[uint64]*session{}
	l.mu.Unlock()
	close(l.done)
	l.unbind(func(*servedLane) bool { return true }, true)
	if l.lanes != nil {
		for _, lane := range l.lanes.Lanes() {
			lane.Req.Wake() // the lane servers see done; the process exits (the region stays mapped)
		}
	}
	for _, s := range ss {
		srv.closeSession(s)
	}
}

// endSession forgets the SPM's session id: the services free what they
// kept for it.
func (l *PartitionLink) endSession(srv *Server, id uint64) {
	l.mu.Lock()
	ss := l.sessions[id]
	delete(l.sessions, id)
	l.mu.Unlock()
	if ss != nil {
		srv.closeSession(ss)
	}
}

// session returns this process's session for the SPM's session id.
func (l *PartitionLink) session(srv *Server, id uint64, client int32) *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ss := l.sessions[id]; ss != nil {
		return ss
	}
	ss := srv.adoptSession(client)
	l.sessions[id] = ss
	return ss
}

// call runs one forwarded request and sends its reply.
func (l *PartitionLink) call(srv *Server, sessionID uint64, client int32, frame []byte) {
	// A failed send means the link is gone; the read loop sees it too.
	_ = l.send(linkReply, sessionID, client, l.answer(srv, sessionID, client, frame))
}

// answer runs one forwarded request and returns its reply frame.
func (l *PartitionLink) answer(srv *Server, sessionID uint64, client int32, frame []byte) []byte {
	if l.opened != nil {
		<-l.opened
	}
	req, err := ipc.ParseRequest(frame, l.lim)
	var out []byte
	switch {
	case err != nil || req.Kind != ipc.KindStateless:
		out = ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(frame), Status: ipc.ErrProgrammerError})
	default:
		rep := &ipc.Reply{Kind: req.Kind, Seq: req.Seq}
		svc := srv.lookup(req.SID)
		if svc == nil {
			rep.Status = ipc.ErrConnectionRefused
			out = ipc.AppendReply(nil, rep)
			break
		}
		ss := l.session(srv, sessionID, client)
		ss.serial.Lock()
		rep.Status, rep.Out = srv.call(ss, svc, req)
		out = ipc.AppendReply(nil, rep)
		svc.gate.RUnlock()
		ss.serial.Unlock()
	}
	return out
}

// Caller opens a session of partition (its positive partition ID) towards
// the SPM: the partition's calls to other services. The SPM checks them
// against the partition's manifest (its dependencies).
func (l *PartitionLink) Caller(partition int32) ipc.Transport {
	id := l.nextOut.Add(1)
	ch := make(chan []byte, 1)
	l.mu.Lock()
	l.out[id] = ch
	l.mu.Unlock()
	return &linkCaller{l: l, id: id, partition: partition, ch: ch}
}

// linkCaller is one session of a hosted partition towards the SPM.
type linkCaller struct {
	l         *PartitionLink
	id        uint64
	partition int32
	ch        chan []byte
	mu        sync.Mutex
	seq       uint32
	wbuf      []byte
	closed    atomic.Bool
}

func (c *linkCaller) RoundTrip(req *ipc.Request) (*ipc.Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, fmt.Errorf("spe: partition call: %w", net.ErrClosed)
	}
	c.seq++
	req.Seq = c.seq
	var err error
	c.wbuf, err = ipc.AppendRequest(c.wbuf[:0], req, c.l.lim)
	if err != nil {
		return nil, err
	}
	if err := c.l.send(linkOut, c.id, c.partition, c.wbuf); err != nil {
		return nil, fmt.Errorf("spe: partition call: %w", err)
	}
	select {
	case b := <-c.ch:
		rep, err := ipc.ParseReply(b, c.l.lim)
		if err != nil {
			return nil, err
		}
		if rep.Seq != req.Seq {
			return nil, fmt.Errorf("spe: partition call: reply seq %d to request %d: %w", rep.Seq, req.Seq, ipc.ErrMalformed)
		}
		return rep, nil
	case <-c.l.done:
		return nil, fmt.Errorf("spe: partition call: link to the SPM closed: %w", net.ErrClosed)
	}
}

func (c *linkCaller) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.l.mu.Lock()
	delete(c.l.out, c.id)
	c.l.mu.Unlock()
	return c.l.send(linkOutEnd, c.id, c.partition, nil)
}
