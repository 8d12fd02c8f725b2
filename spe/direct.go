package spe

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// Direct lanes (docs/spe-isolation.md section 1, "Direct lanes"): at
// isolation levels 2 and 3 a client may ask the partition manager for a
// shared-memory lane of its own to the partition process that serves one
// of its handles. The SPM checks the handle (this connection's, its
// service not retired, its partition in a process), creates the lane, and
// hands one copy of its descriptors to that process over the link
// (linkBind, with the session and the client ID the SPM read from the
// kernel) and one to the client with the reply. The process then answers
// calls on that handle from the lane directly, as calls of that session
// and client: the SPM's checks were made once, at connect and at the
// grant, and the process never believes anything the lane's frames say
// about who calls. The SPM stays the control plane: it revokes a lane
// when its handle closes, its session ends, tracing starts, its service
// is retired, or the process ends (then a call in progress on it fails).

// The lane's state word (shmring.Lane.State). It is a hint to the client,
// never what the partition process obeys (it obeys linkUnbind and
// linkEnd): the client could write the word too.
const (
	directOpen     = 0 // in service
	directDrained  = 1 // the process stopped serving it; a request it did not answer was not run: take the SPM's path
	directDead     = 2 // the process ended; a request it did not answer failed (SERVICE_FAILURE)
	directRevoking = 3 // the SPM revoked it: no new call; the process answers one already written, then drains
)

// maxGrantsPerSession bounds the direct lanes one session is granted over
// its life (the SPM keeps each lane mapped until the session or the run
// ends, so that it can mark the lane dead): past it, calls take the SPM's
// path.
const maxGrantsPerSession = 64

// bindMsg is linkBind's payload; the lane's descriptors (memfd, request
// and reply doorbells) travel with the frame (SCM_RIGHTS).
type bindMsg struct {
	ID     uint32 `json:"id"`
	SID    uint32 `json:"sid"`
	Handle uint64 `json:"handle"`
	Slot   int    `json:"slot"`
}

// grant is one direct lane as the SPM keeps it: its own mapping, to mark
// the lane revoked or dead and wake whoever waits on it.
type grant struct {
	id      uint32
	session uint64
	sid     uint32
	handle  uint64
	region  *shmring.Region
	revoked bool
}

// directGrants are one run's direct lanes (a remoteConn's).
type directGrants struct {
	mu     sync.Mutex
	next   uint32
	byID   map[uint32]*grant
	issued map[uint64]int // session → lanes granted so far
}

// errNoDirect refuses a direct lane; the client takes the SPM's path.
var errNoDirect = errors.New("spe: no direct lane")

// directLane answers a session's KindDirectLane request over c: the lane's
// descriptors with the reply, or a refusal.
func (s *Server) directLane(ss *session, c net.Conn, req *ipc.Request, mu *sync.Mutex) {
	rep := &ipc.Reply{Kind: ipc.KindDirectLane, Seq: req.Seq}
	mu.Lock()
	files, st := s.grantDirect(ss, c, req.Handle)
	mu.Unlock()
	rep.Status = st
	var rights []byte
	if files != nil {
		defer shmring.CloseFiles(files)
		rep.Slot = shmring.DefaultSlot
		rights = unix.UnixRights(shmring.FDs(files)...)
	}
	c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
	c.(*net.UnixConn).WriteMsgUnix(ipc.AppendReply(nil, rep), rights, nil)
}

// grantDirect checks a direct lane's request and makes the lane.
func (s *Server) grantDirect(ss *session, c net.Conn, handle uint64) ([]*os.File, ipc.Status) {
	svc, st := s.directService(ss, handle)
	if st != ipc.Success {
		return nil, st
	}
	h, remote := svc.handler.(*remoteHandler)
	if _, unixConn := c.(*net.UnixConn); !remote || !unixConn || s.opt.NoSharedMemory || s.trace.Load() != nil {
		return nil, ipc.ErrNotSupported
	}
	svc.gate.RLock()
	retired := svc.retired || s.lookup(h.sid) != svc
	svc.gate.RUnlock()
	if retired {
		return nil, ipc.ErrBadState // as a call on the handle answers
	}
	files, err := h.r.grant(ss, h.sid, handle)
	if err != nil {
		return nil, ipc.ErrNotSupported
	}
	return files, ipc.Success
}

// directService is the service a direct lane's request names: a handle of
// ss, or a stateless SID (ipc.StatelessLane) that ss could call now, by
// the checks dispatch makes on a stateless call.
func (s *Server) directService(ss *session, key uint64) (*service, ipc.Status) {
	sid, version, stateless := ipc.StatelessLaneOf(key)
	if !stateless {
		svc, ok := ss.get(key)
		if !ok {
			return nil, ipc.ErrProgrammerError // not this connection's handle
		}
		return svc, ipc.Success
	}
	svc := s.lookup(sid)
	if svc == nil || !ss.reaches(sid) || !svc.manifest.Stateless || !svc.manifest.allows(ss.info.Client) || !svc.manifest.accepts(version) {
		return nil, ipc.ErrConnectionRefused
	}
	return svc, ipc.Success
}

// grant makes a direct lane for a handle of ss on svc sid and binds it in
// the current run of the process. It returns the client's copies of the
// lane's descriptors.
func (r *Remote) grant(ss *session, sid uint32, handle uint64) ([]*os.File, error) {
	r.mu.Lock()
	rc := r.cur
	r.mu.Unlock()
	if rc == nil {
		return nil, errNoDirect
	}
	g := &rc.direct
	g.mu.Lock()
	if g.issued[ss.info.ID] >= maxGrantsPerSession || len(g.byID) >= r.s.opt.MaxDirectLanes {
		g.mu.Unlock()
		return nil, errNoDirect
	}
	region, files, err := shmring.Create("rampart-spe-direct", 1, shmring.DefaultSlot)
	if err != nil {
		g.mu.Unlock()
		return nil, err
	}
	region.Rearm()
	g.next++
	gr := &grant{id: g.next, session: ss.info.ID, sid: sid, handle: handle, region: region}
	if g.byID == nil {
		g.byID, g.issued = map[uint32]*grant{}, map[uint64]int{}
	}
	g.byID[gr.id] = gr
	g.issued[ss.info.ID]++
	g.mu.Unlock()
	rc.mu.Lock()
	rc.touched[ss.info.ID] = true // its end reaches the process, which then drops the lane
	rc.mu.Unlock()
	b, _ := json.Marshal(bindMsg{ID: gr.id, SID: sid, Handle: handle, Slot: shmring.DefaultSlot})
	if err := rc.sendFiles(linkBind, ss.info.ID, ss.info.Client, b, files); err != nil {
		shmring.CloseFiles(files)
		return nil, err
	}
	if r.s.trace.Load() != nil { // tracing started meanwhile (StartTrace revokes after it starts)
		rc.revokeWhere(func(x *grant) bool { return x == gr })
	}
	return files, nil
}

// sendFiles sends one link frame with files attached (SCM_RIGHTS).
func (rc *remoteConn) sendFiles(op byte, session uint64, client int32, payload []byte, files []*os.File) error {
	uc, ok := rc.conn.(*net.UnixConn)
	if !ok {
		return errNoDirect
	}
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.wbuf = appendLinkFrame(rc.wbuf[:0], op, session, client, payload)
	_, _, err := uc.WriteMsgUnix(rc.wbuf, unix.UnixRights(shmring.FDs(files)...), nil)
	return err
}

// revokeWhere revokes the run's direct lanes that match: the process is
// told to stop serving each (linkUnbind; it answers a request already
// written, then marks the lane drained), and the client is told by the
// state word. The SPM keeps its mapping until the session or run ends.
func (rc *remoteConn) revokeWhere(match func(*grant) bool) {
	g := &rc.direct
	g.mu.Lock()
	var ids []*grant
	for _, gr := range g.byID {
		if !gr.revoked && match(gr) {
			gr.revoked = true
			gr.region.Lanes()[0].SetState(directRevoking)
			ids = append(ids, gr)
		}
	}
	g.mu.Unlock()
	for _, gr := range ids {
		b, _ := json.Marshal(bindMsg{ID: gr.id})
		_ = rc.send(linkUnbind, gr.session, 0, b) // a dead link: the run's end marks the lanes dead
	}
}

// sessionEnded forgets a session's direct lanes: the process drops them on
// linkEnd.
func (rc *remoteConn) sessionEnded(session uint64) {
	g := &rc.direct
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, gr := range g.byID {
		if gr.session == session {
			lane := gr.region.Lanes()[0]
			if lane.State() == directOpen {
				lane.SetState(directRevoking)
			}
			lane.Rep.Wake()
			gr.region.Close()
			delete(g.byID, id)
		}
	}
	delete(g.issued, session)
}

// runEnded marks every direct lane of a run that ended dead, wakes the
// clients waiting on them (their calls fail), and unmaps them.
func (rc *remoteConn) runEnded() {
	g := &rc.direct
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, gr := range g.byID {
		lane := gr.region.Lanes()[0]
		lane.SetState(directDead)
		lane.Rep.Wake()
		gr.region.Close()
		delete(g.byID, id)
	}
}

// bindFailed marks a lane the process could not map drained: its client
// takes the SPM's path.
func (rc *remoteConn) bindFailed(id uint32) {
	g := &rc.direct
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr := g.byID[id]; gr != nil {
		gr.revoked = true
		gr.region.Lanes()[0].SetState(directDrained)
		gr.region.Lanes()[0].Rep.Wake()
	}
}

// revokeDirect revokes every direct lane of every partition process
// (tracing starts: every call must pass the SPM to be recorded), or only
// those of the SIDs given.
func (s *Server) revokeDirect(sids map[uint32]bool) {
	s.mu.RLock()
	remotes := append([]*Remote(nil), s.remotes...)
	s.mu.RUnlock()
	for _, r := range remotes {
		r.mu.Lock()
		rc := r.cur
		r.mu.Unlock()
		if rc != nil {
			rc.revokeWhere(func(g *grant) bool { return sids == nil || sids[g.sid] })
		}
	}
}

// revokeHandle revokes the direct lanes of a handle that was closed.
func (r *Remote) revokeHandle(session, handle uint64) {
	r.mu.Lock()
	rc := r.cur
	r.mu.Unlock()
	if rc != nil {
		rc.revokeWhere(func(g *grant) bool { return g.session == session && g.handle == handle })
	}
}

// DirectLanes counts the direct lanes the partition processes' current
// runs hold, revoked ones included until their session ends (tests).
func (s *Server) DirectLanes() int {
	s.mu.RLock()
	remotes := append([]*Remote(nil), s.remotes...)
	s.mu.RUnlock()
	n := 0
	for _, r := range remotes {
		r.mu.Lock()
		rc := r.cur
		r.mu.Unlock()
		if rc != nil {
			rc.direct.mu.Lock()
			n += len(rc.direct.byID)
			rc.direct.mu.Unlock()
		}
	}
	return n
}

func bindPayload(b []byte) (bindMsg, error) {
	var m bindMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: bind: %v", errLink, err)
	}
	return m, nil
}
