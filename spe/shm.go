package spe

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// sharedLane is a socket session's shared-memory lane (docs/spe-ipc.md
// section 1): the client asked for it over its socket, which stays the
// session's identity (SO_PEERCRED) and liveness channel. The SPE creates
// and seals the region, so nothing the client does to it can make the SPE's
// mapping fault; it copies each request out of the slot before parsing it.
type sharedLane struct {
	region *shmring.Region
	stop   atomic.Bool
	done   chan struct{}
}

// shareMemory answers a session's KindSharedMemory request over c: a lane
// and its memfd, or a refusal (already one, or the server offers none).
// It returns the session's lane (the old one, a new one, or nil).
func (s *Server) shareMemory(ss *session, c net.Conn, seq uint32, cur *sharedLane, mu *sync.Mutex) *sharedLane {
	rep := &ipc.Reply{Kind: ipc.KindSharedMemory, Seq: seq, Status: ipc.ErrNotSupported}
	uc, ok := c.(*net.UnixConn)
	if cur != nil || !ok || s.opt.NoSharedMemory {
		s.writeReply(c, ipc.AppendReply(nil, rep))
		return cur
	}
	region, files, err := shmring.Create("rampart-spe-lane", 1, shmring.DefaultSlot)
	if err != nil {
		s.logf("spe: shared-memory lane for client %d: %v", ss.info.Client, err)
		s.writeReply(c, ipc.AppendReply(nil, rep))
		return nil
	}
	defer shmring.CloseFiles(files)
	rep.Status, rep.Slot = ipc.Success, uint32(region.Slot())
	uc.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
	if _, _, err := uc.WriteMsgUnix(ipc.AppendReply(nil, rep), unix.UnixRights(shmring.FDs(files)...), nil); err != nil {
		region.Close()
		return nil
	}
	l := &sharedLane{region: region, done: make(chan struct{})}
	go s.serveLane(ss, l, mu)
	return l
}

func (s *Server) writeReply(c net.Conn, frame []byte) {
	c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
	c.Write(frame)
}

// serveLane answers the requests of one lane until the session ends. A
// request is copied out of shared memory first (the client can rewrite the
// slot at any moment); a length word beyond the slot, or a reply larger
// than the slot (only a request that lied about its outputs gets one), is
// answered by an error frame. The SPE never waits for the client to read:
// a reply is written into the slot and the next request awaited.
func (s *Server) serveLane(ss *session, l *sharedLane, mu *sync.Mutex) {
	defer close(l.done)
	lane := l.region.Lanes()[0]
	w := shmring.NewWaiter(s.opt.Spin)
	var last uint32
	var in, out []byte
	for {
		var err error
		last, in, err = lane.Req.Take(last, in, w, l.stop.Load, time.Time{})
		switch {
		case err == nil:
			mu.Lock()
			out = s.handleFrame(ss, in, out[:0])
			mu.Unlock()
			if len(out) > lane.Rep.Size() {
				s.errors.Add(1)
				out = ipc.AppendReply(out[:0], &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(in), Status: ipc.ErrProgrammerError})
			}
		case l.stop.Load():
			return
		default: // a length word beyond the slot
			s.errors.Add(1)
			out = ipc.AppendReply(out[:0], &ipc.Reply{Kind: ipc.KindError, Status: ipc.ErrProgrammerError})
		}
		lane.Rep.Put(out)
		if cap(in) > 256<<10 {
			in = nil
		}
	}
}

// end stops the lane's server and unmaps the region.
func (l *sharedLane) end() {
	l.stop.Store(true)
	l.region.Lanes()[0].Req.Wake()
	<-l.done
	l.region.Close()
}
