package ipc

import (
	"net"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
)

// Direct lanes (docs/spe-isolation.md section 1, "Direct lanes"): at
// isolation levels 2 and 3 the partition manager may grant a connection a
// shared-memory lane of its own to the partition process serving one of
// its handles. Calls on that handle then go to that process directly; the
// manager checked the handle once, when it granted the lane, and revokes
// it when it must. The lane's state word says why it stopped serving.
const (
	directOpen     = 0
	directDrained  = 1 // not run: send it by the manager instead
	directDead     = 2 // the partition process ended: the call failed
	directRevoking = 3 // no new call; one in progress is still answered
)

// StatelessLane is the key a direct lane for stateless calls to sid at
// version is asked and kept under: KindDirectLane's handle field with bit
// 63 set (connection handles never have it), the version in bits 32-62
// and the SID below. The manager grants it after the checks it makes on a
// stateless call to sid.
func StatelessLane(sid, version uint32) uint64 {
	return 1<<63 | uint64(version&0x7fffffff)<<32 | uint64(sid)
}

// StatelessLaneOf splits a StatelessLane key; ok is false for a
// connection handle.
func StatelessLaneOf(key uint64) (sid, version uint32, ok bool) {
	return uint32(key), uint32(key>>32) & 0x7fffffff, key&(1<<63) != 0
}

// laneKey is the key req's direct lane is kept under, if it may have one.
func laneKey(req *Request) (uint64, bool) {
	switch req.Kind {
	case KindCall:
		return req.Handle, true
	case KindStateless:
		return StatelessLane(req.SID, req.Version), req.Version>>31 == 0
	}
	return 0, false
}

// directLane is a connection's lane for one handle.
type directLane struct {
	region *shmring.Region
	lane   *shmring.Lane
	waiter *shmring.Waiter
	last   uint32
}

// directFor returns the direct lane kept under handle (a connection handle
// or a StatelessLane key), asking the manager for one the first time;
// nil: calls take the manager's path.
func (c *Conn) directFor(handle uint64) *directLane {
	if c.lane == nil || c.noDirect {
		return nil // no shared memory at all, or the client declined
	}
	if c.direct == nil {
		c.direct = map[uint64]*directLane{}
	}
	d, asked := c.direct[handle]
	if !asked {
		d = c.askDirect(handle)
		c.direct[handle] = d
	}
	if d != nil && d.lane.State() != directOpen {
		c.dropDirect(handle) // revoked: the manager's path from now on
		return nil
	}
	return d
}

// askDirect asks the manager for a direct lane for handle, over the
// socket (the descriptors travel with the reply). Any refusal or failure
// leaves the handle on the manager's path.
func (c *Conn) askDirect(handle uint64) *directLane {
	uc, ok := c.c.(*net.UnixConn)
	if !ok {
		return nil
	}
	c.seq++
	frame, _ := AppendRequest(nil, &Request{Kind: KindDirectLane, Seq: c.seq, Handle: handle}, c.lim)
	if _, err := uc.Write(frame); err != nil {
		return nil
	}
	rep, fds, err := c.readWithRights(uc)
	if err != nil || rep.Kind != KindDirectLane || rep.Seq != c.seq || rep.Status != Success || len(fds) != 3 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			c.broken = err
		}
		return nil
	}
	r, err := shmring.Open(fds, 1, int(rep.Slot)) // owns fds now
	if err != nil {
		return nil
	}
	w := shmring.NewWaiter(c.waiter.Spin)
	w.Apart = true
	return &directLane{region: r, lane: r.Lanes()[0], waiter: w}
}

// dropDirect unmaps handle's lane and keeps the handle on the manager's
// path.
func (c *Conn) dropDirect(handle uint64) {
	if d := c.direct[handle]; d != nil {
		d.region.Close()
	}
	c.direct[handle] = nil
}

// roundTripDirect sends the encoded call (c.wbuf) on d and waits for its
// reply in c.rbuf. retry: the process stopped serving the lane without
// running the call; send it by the manager.
func (c *Conn) roundTripDirect(req *Request, key uint64, d *directLane) (retry bool, err error) {
	if err := d.lane.Req.Put(c.wbuf); err != nil {
		return true, nil
	}
	stop := func() bool {
		st := d.lane.State()
		return st == directDrained || st == directDead || c.laneStopped()
	}
	d.last, c.rbuf, err = d.lane.Rep.Take(d.last, c.rbuf, d.waiter, stop, timeNone)
	if err == nil {
		c.directCalls.Add(1)
		return false, nil
	}
	if d.lane.Rep.Published() != d.last { // answered as it stopped
		d.last, c.rbuf, err = d.lane.Rep.Take(d.last, c.rbuf, d.waiter, nil, timeNone)
		return false, err
	}
	st := d.lane.State()
	c.dropDirect(key)
	switch st {
	case directDrained:
		return true, nil
	case directDead:
		c.rbuf = AppendReply(c.rbuf[:0], &Reply{Kind: req.Kind, Seq: req.Seq, Status: ErrServiceFailure})
		return false, nil
	}
	return false, err // the connection ended
}

// timeNone: no deadline (the socket is the liveness channel).
var timeNone time.Time

// DirectCalls counts the calls answered on direct lanes (tests,
// benchmarks).
func (c *Conn) DirectCalls() uint64 { return c.directCalls.Load() }
