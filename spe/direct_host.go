package spe

import (
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// The partition process's side of direct lanes (direct.go).

// fdReader reads the link and keeps the descriptors that come with it
// (linkBind's, SCM_RIGHTS) in arrival order: a frame's descriptors arrive
// with its first byte, so they are queued before the frame is parsed.
type fdReader struct {
	uc  *net.UnixConn
	oob []byte

	mu  sync.Mutex
	fds []int
}

func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, _, _, err := r.uc.ReadMsgUnix(p, r.oob)
	n = max(n, 0) // the socket's error may come with -1
	if oobn > 0 {
		if msgs, perr := unix.ParseSocketControlMessage(r.oob[:oobn]); perr == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					r.mu.Lock()
					r.fds = append(r.fds, fds...)
					r.mu.Unlock()
				}
			}
		}
	}
	return n, err
}

// take removes the first n queued descriptors (nil when fewer arrived).
func (r *fdReader) take(n int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) < n {
		return nil
	}
	fds := append([]int(nil), r.fds[:n]...)
	r.fds = r.fds[n:]
	return fds
}

// servedLane is one direct lane the process serves: calls on one handle of
// one session of the SPM, as that session's client.
type servedLane struct {
	id      uint32
	session uint64
	client  int32
	sid     uint32
	handle  uint64
	region  *shmring.Region
	stop    atomic.Bool
	// ended: its session ended (or the link): a call not yet answered is
	// not run, and no session is made for it again.
	ended atomic.Bool
	done  chan struct{} // closed when its server returns
}

// bind starts serving a direct lane the SPM granted (linkBind). A lane it
// cannot map is reported (linkBindFailed), so its client is told to take
// the SPM's path.
func (l *PartitionLink) bind(srv *Server, f linkFrame) error {
	m, err := bindPayload(f.payload)
	if err != nil {
		return err
	}
	var fds []int
	if l.fr != nil {
		fds = l.fr.take(3) // the memfd and the two doorbells
	}
	var region *shmring.Region
	if fds != nil {
		region, err = shmring.Open(fds, 1, m.Slot) // owns fds
	}
	if fds == nil || err != nil {
		b, _ := json.Marshal(bindMsg{ID: m.ID})
		return l.send(linkBindFailed, f.session, f.client, b)
	}
	d := &servedLane{id: m.ID, session: f.session, client: f.client, sid: m.SID, handle: m.Handle, region: region, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		region.Close()
		return nil
	}
	if l.direct == nil {
		l.direct = map[uint32]*servedLane{}
	}
	if old := l.direct[m.ID]; old != nil {
		old.end()
	}
	l.direct[m.ID] = d
	l.mu.Unlock()
	go l.serveDirect(srv, d)
	return nil
}

// unbind stops the lanes that match (linkUnbind; with ended, linkEnd and
// the link's end) and returns them.
func (l *PartitionLink) unbind(match func(*servedLane) bool, ended bool) []*servedLane {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*servedLane
	for id, d := range l.direct {
		if match(d) {
			d.ended.Store(ended)
			d.end()
			delete(l.direct, id)
			out = append(out, d)
		}
	}
	return out
}

// end tells the lane's server to stop and wakes it.
func (d *servedLane) end() {
	d.stop.Store(true)
	d.region.Lanes()[0].Req.Wake()
}

// serveDirect answers the calls of a direct lane until it is revoked or
// the link ends. Each frame is copied out of shared memory before it is
// parsed. When revoked it answers a request already written, then marks
// the lane drained: a request the client sees unanswered then was not run.
func (l *PartitionLink) serveDirect(srv *Server, d *servedLane) {
	defer close(d.done)
	lane := d.region.Lanes()[0]
	w := shmring.NewWaiter(shmring.SpinFromEnv())
	stop := func() bool { return d.stop.Load() || l.isClosed() }
	var last uint32
	var in, out []byte
	for !stop() {
		var err error
		last, in, err = lane.Req.Take(last, in, w, stop, time.Time{})
		if err != nil && stop() {
			break
		}
		out = l.answerDirect(srv, d, in, err, out[:0])
		lane.Rep.Put(out)
	}
	if l.isClosed() {
		return // the process ends: the SPM marks the lane dead
	}
	if lane.Req.Published() != last && !d.ended.Load() {
		_, in, err := lane.Req.Take(last, in, w, nil, time.Time{})
		lane.Rep.Put(l.answerDirect(srv, d, in, err, out[:0]))
	}
	lane.SetState(directDrained)
	lane.Rep.Wake()
	d.region.Close()
}

// directSession is the lane's session, unless it ended: a call on a
// lane must not make a session again after the SPM ended it (nothing
// would end that one).
func (l *PartitionLink) directSession(srv *Server, d *servedLane) *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d.ended.Load() { // set under mu by unbind
		return nil
	}
	if ss := l.sessions[d.session]; ss != nil {
		return ss
	}
	ss := srv.adoptSession(d.client)
	l.sessions[d.session] = ss
	return ss
}

// serves reports whether req is a call the lane was granted for: a call
// (kind 0x03) on its handle, or a stateless call (kind 0x05) to its SID at
// the version the SPM checked (ipc.StatelessLane).
func (d *servedLane) serves(req *ipc.Request) bool {
	if sid, version, stateless := ipc.StatelessLaneOf(d.handle); stateless {
		return req.Kind == ipc.KindStateless && req.SID == sid && sid == d.sid && req.Version == version
	}
	return req.Kind == ipc.KindCall && req.Handle == d.handle
}

// answerDirect runs one call from a direct lane that it serves, as a
// call of the lane's session and client; anything else is a programmer
// error, as a call on another handle is at the SPM.
func (l *PartitionLink) answerDirect(srv *Server, d *servedLane, frame []byte, takeErr error, dst []byte) []byte {
	if l.opened != nil {
		<-l.opened
	}
	req, err := ipc.ParseRequest(frame, l.lim)
	if takeErr != nil || err != nil || !d.serves(req) {
		return ipc.AppendReply(dst, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(frame), Status: ipc.ErrProgrammerError})
	}
	rep := &ipc.Reply{Kind: req.Kind, Seq: req.Seq}
	svc := srv.lookup(d.sid)
	if svc == nil { // retired in this process (decommissioning at level 2), or it serves nothing
		rep.Status = ipc.ErrBadState // as a call on a handle to a retired service answers
		if req.Kind == ipc.KindStateless {
			rep.Status = ipc.ErrConnectionRefused // as the process answers one forwarded by the SPM
		}
		return ipc.AppendReply(dst, rep)
	}
	ss := l.directSession(srv, d)
	if ss == nil { // the session ended meanwhile
		rep.Status = ipc.ErrServiceFailure
		return ipc.AppendReply(dst, rep)
	}
	ss.serial.Lock() // one call of a session at a time, whichever way it came
	rep.Status, rep.Out = srv.call(ss, svc, req)
	dst = ipc.AppendReply(dst, rep)
	svc.gate.RUnlock()
	ss.serial.Unlock()
	return dst
}
