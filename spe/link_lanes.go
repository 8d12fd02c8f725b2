package spe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// The link's shared-memory lanes (docs/spe-isolation.md section 6): the
// SPM creates a sealed region of linkLanes lanes for each run of a
// partition process, passes it as the process's file descriptor 4, and
// names it in a linkShm frame before linkHello. A forwarded call takes a
// free lane (the socket when none is free, or when its frames do not fit
// a slot); the lane's slots carry the same link frames as the socket.
// The socket stays the process's liveness channel and carries everything
// else (session ends, the partition's own calls).
const (
	linkLanes  = 4
	linkLaneFD = 4 // the region's first descriptor in the partition process (ExtraFiles[1:])
)

// shmHello names the region's descriptors in the partition process: the
// memfd, then each lane's request and reply doorbells.
type shmHello struct {
	FDs   []int `json:"fds"`
	Lanes int   `json:"lanes"`
	Slot  int   `json:"slot"`
}

// linkLane is one lane as the SPM uses it: one call at a time.
type linkLane struct {
	lane *shmring.Lane
	w    *shmring.Waiter
	last uint32
	out  []byte
	in   []byte
}

// lanePool is the SPM's side of one run's lanes.
type lanePool struct {
	mu     sync.RWMutex // held shared by a call on a lane, exclusively to unmap
	region *shmring.Region
	free   chan *linkLane
}

func newLanePool(r *shmring.Region, spin time.Duration) *lanePool {
	p := &lanePool{region: r, free: make(chan *linkLane, len(r.Lanes()))}
	for _, l := range r.Lanes() {
		w := shmring.NewWaiter(spin)
		w.Apart = true // the SPM is the caller: it moves off the partition's CPU
		p.free <- &linkLane{lane: l, w: w}
	}
	return p
}

// close wakes every call waiting on a lane, waits for them, and unmaps.
func (p *lanePool) close() {
	if p == nil {
		return
	}
	for _, l := range p.region.Lanes() {
		l.Rep.Wake()
	}
	p.mu.Lock()
	p.region.Close()
	p.region = nil
	p.mu.Unlock()
}

// errNoLane sends a call over the socket instead.
var errNoLane = errors.New("spe: no free lane")

// call forwards one ipc request frame on a free lane and returns the
// partition's reply frame (a copy). errNoLane: use the socket. Any other
// error leaves the lane out of the pool: the caller kills the process.
func (p *lanePool) call(session uint64, client int32, frame []byte, outTotal int64, done <-chan struct{}, timeout time.Duration) ([]byte, error) {
	if p == nil {
		return nil, errNoLane
	}
	var l *linkLane
	select {
	case l = <-p.free:
	default:
		return nil, errNoLane
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.region == nil {
		return nil, errNoLane
	}
	l.out = appendLinkFrame(l.out[:0], linkCall, session, client, frame)
	if len(l.out) > l.lane.Req.Size() || outTotal+linkHeader+1024 > int64(l.lane.Rep.Size()) {
		p.free <- l
		return nil, errNoLane
	}
	l.lane.Req.Put(l.out)
	stop := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	var err error
	l.last, l.in, err = l.lane.Rep.Take(l.last, l.in, l.w, stop, time.Now().Add(timeout))
	if err != nil {
		return nil, err
	}
	f, err := parseLinkFrame(l.in, ipc.Limits{})
	if err != nil {
		return nil, err
	}
	if f.op != linkReply || f.session != session {
		return nil, fmt.Errorf("%w: op %d for session %d on a lane", errLink, f.op, f.session)
	}
	b := append([]byte(nil), f.payload...)
	p.free <- l
	return b, nil
}

// createLanes makes one run's region; the files go to the process.
func createLanes() (*shmring.Region, []*os.File, []byte, error) {
	r, files, err := shmring.Create("rampart-spm-link", linkLanes, shmring.DefaultSlot)
	if err != nil {
		return nil, nil, nil, err
	}
	h := shmHello{Lanes: linkLanes, Slot: shmring.DefaultSlot}
	for i := range files {
		h.FDs = append(h.FDs, linkLaneFD+i)
	}
	b, _ := json.Marshal(h)
	return r, files, b, nil
}

// openLanes maps the region the SPM named (partition side).
func openLanes(payload []byte) (*shmring.Region, error) {
	var h shmHello
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, fmt.Errorf("spe: partition: lanes: %w", err)
	}
	for _, fd := range h.FDs {
		if fd < linkLaneFD || fd >= linkLaneFD+1+2*shmring.MaxLanes {
			return nil, fmt.Errorf("spe: partition: lanes: descriptor %d", fd)
		}
	}
	return shmring.Open(h.FDs, h.Lanes, h.Slot)
}

// serveLane answers the SPM's calls on one lane until the link ends
// (partition side). It copies each frame out of shared memory before
// parsing it, like the SPM.
func (l *PartitionLink) serveLane(srv *Server, lane *shmring.Lane) {
	w := shmring.NewWaiter(shmring.SpinFromEnv())
	var last uint32
	var in, out []byte
	for {
		var err error
		last, in, err = lane.Req.Take(last, in, w, l.isClosed, time.Time{})
		if l.isClosed() {
			return
		}
		var rep []byte
		f, perr := parseLinkFrame(in, l.lim)
		switch {
		case err == nil && perr == nil && f.op == linkCall:
			rep = l.answer(srv, f.session, f.client, f.payload)
		default:
			rep = ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(f.payload), Status: ipc.ErrProgrammerError})
		}
		out = appendLinkFrame(out[:0], linkReply, f.session, f.client, rep)
		if lane.Rep.Put(out) != nil {
			out = appendLinkFrame(out[:0], linkReply, f.session, f.client,
				ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(f.payload), Status: ipc.ErrServiceFailure}))
			lane.Rep.Put(out)
		}
	}
}

func (l *PartitionLink) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
