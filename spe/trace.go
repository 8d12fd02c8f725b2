package spe

import (
	"sync"
	"sync/atomic"
	"time"

	"rampart/ipc"
)

// TraceEvent is one request the partition manager answered, recorded
// while tracing is on (docs/spe-isolation.md, section 5). It names who
// called and what, never the data: no vector's content is recorded.
type TraceEvent struct {
	Seq       uint64 `json:"seq"`
	Start     int64  `json:"start_ns"`         // Unix nanoseconds when the SPM received the request
	Client    int32  `json:"client"`           // the caller's client ID: negative non-secure, positive a partition
	Session   uint64 `json:"session"`          // the caller's connection (a non-secure thread)
	Caller    string `json:"caller,omitempty"` // the calling partition's name, when a partition calls
	Kind      string `json:"kind"`             // version, connect, call, close, stateless, error
	SID       uint32 `json:"sid,omitempty"`
	Partition string `json:"partition,omitempty"` // the partition that serves the SID
	Service   string `json:"service,omitempty"`
	Op        int32  `json:"op,omitempty"`     // the call type
	Handle    uint64 `json:"handle,omitempty"` // connect's new handle; call's and close's handle
	Status    int32  `json:"status"`
	Total     int64  `json:"total_ns"`             // in the SPM, request decoded to reply encoded
	InService int64  `json:"service_ns,omitempty"` // in the service's handler (at levels 2 and 3: the hop to its process and back)
	Served    bool   `json:"served,omitempty"`     // the call reached the partition's handler
}

// StatusName returns the PSA name of the event's status.
func (e TraceEvent) StatusName() string { return ipc.Status(e.Status).String() }

// tracer is a bounded ring of events.
type tracer struct {
	mu      sync.Mutex
	ring    []TraceEvent
	next    int // where the next event goes
	n       int // events held
	seq     uint64
	dropped uint64
}

// DefaultTraceCapacity is the ring's size when none is asked for.
const DefaultTraceCapacity = 4096

// MaxTraceCapacity bounds the ring (about 150 bytes an event).
const MaxTraceCapacity = 1 << 16

// StartTrace starts recording every request the server answers into a
// fresh ring of capacity events (DefaultTraceCapacity when 0); the oldest
// are dropped when it is full.
func (s *Server) StartTrace(capacity int) {
	if capacity <= 0 {
		capacity = DefaultTraceCapacity
	}
	capacity = min(capacity, MaxTraceCapacity)
	s.trace.Store(&tracer{ring: make([]TraceEvent, capacity)})
	// A call on a direct lane would pass by the SPM unrecorded: revoke them
	// (their clients take the SPM's path); none is granted while tracing.
	s.revokeDirect(nil)
}

// StopTrace stops recording; the events recorded stay readable.
func (s *Server) StopTrace() {
	if t := s.trace.Load(); t != nil {
		s.stopped.Store(t)
		s.trace.Store(nil)
	}
}

// Trace returns the recorded events with a sequence number of at least
// from (at most max of them, oldest first), how many were dropped, and
// whether tracing is on.
func (s *Server) Trace(from uint64, max int) (events []TraceEvent, dropped uint64, on bool) {
	t := s.trace.Load()
	on = t != nil
	if t == nil {
		if t = s.stopped.Load(); t == nil {
			return nil, 0, false
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	first := (t.next - t.n + len(t.ring)) % len(t.ring)
	for i := 0; i < t.n && len(events) < max; i++ {
		e := t.ring[(first+i)%len(t.ring)]
		if e.Seq >= from {
			events = append(events, e)
		}
	}
	return events, t.dropped, on
}

func (t *tracer) record(e TraceEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e.Seq = t.seq
	t.ring[t.next] = e
	t.next = (t.next + 1) % len(t.ring)
	if t.n < len(t.ring) {
		t.n++
	} else {
		t.dropped++
	}
}

// traceStart notes what a request is about before it runs (a close's
// handle is gone afterwards); nil when tracing is off.
func (s *Server) traceStart(ss *session, req *ipc.Request) *TraceEvent {
	t := s.trace.Load()
	if t == nil || req.SID == TraceSID {
		return nil
	}
	e := &TraceEvent{Start: time.Now().UnixNano(), Client: ss.info.Client, Session: ss.info.ID, Caller: ss.name, Kind: req.Kind.String(),
		SID: req.SID, Op: req.Type, Handle: req.Handle}
	var svc *service
	switch req.Kind {
	case ipc.KindCall, ipc.KindClose:
		svc, _ = ss.get(req.Handle)
	default:
		svc = s.lookup(req.SID)
	}
	if svc != nil {
		e.SID, e.Partition, e.Service = svc.manifest.SID, svc.partition, svc.manifest.Name
	}
	if req.Kind != ipc.KindCall && req.Kind != ipc.KindStateless {
		e.Op = 0
	}
	ss.inService.Store(0)
	return e
}

// traceEnd records e with rep's outcome.
func (s *Server) traceEnd(ss *session, e *TraceEvent, rep *ipc.Reply) {
	t := s.trace.Load()
	if e == nil || t == nil {
		return
	}
	e.Total = time.Now().UnixNano() - e.Start
	e.Status = int32(rep.Status)
	e.InService = ss.inService.Load()
	e.Served = e.InService > 0
	if rep.Kind == ipc.KindConnect && rep.Status == ipc.Success {
		e.Handle = rep.Handle
	}
	t.record(*e)
}

// serviceTimer measures a handler's call for the trace.
type serviceTimer = atomic.Int64
