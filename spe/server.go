package spe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// Options tunes a Server. The zero value is usable.
type Options struct {
	// Rand supplies handle values; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Limits bounds frames and vectors; zero means the ipc defaults.
	Limits ipc.Limits
	// MaxSessions bounds concurrent connections (default 256).
	MaxSessions int
	// MaxHandles bounds the open handles of one connection (default 32).
	MaxHandles int
	// MaxSessionsPerClient bounds the connections of one client ID, so one
	// client cannot take every session (default 64).
	MaxSessionsPerClient int
	// WriteTimeout bounds how long a reply may wait for a client that does
	// not read (default 30 s); the connection is then dropped.
	WriteTimeout time.Duration
	// Identify maps a socket peer's kernel credentials to a PSA client ID.
	// nil refuses every socket peer (in-process use only).
	Identify func(uid, pid int) (int32, error)
	// NoSharedMemory refuses the shared-memory lane clients ask for and
	// gives partition processes (isolation levels 2 and 3) no lanes: every
	// call then takes a socket.
	NoSharedMemory bool
	// MaxDirectLanes bounds the direct lanes (docs/spe-isolation.md
	// section 1) that one run of a partition process serves at a time,
	// revoked ones included until their session ends: each costs a
	// goroutine and a mapping there and descriptors in both processes
	// (default 256). Past it, calls take the SPM's path.
	MaxDirectLanes int
	// Spin bounds how long a shared-memory lane's server spins for the next
	// request before it sleeps on the futex (adaptive, see shmring.Waiter):
	// 0 means shmring.SpinFromEnv(), negative never spins.
	Spin time.Duration
	// Logf, when set, receives one line per call a service failed with a
	// recorded cause (Message.Fail) and per service panic: the reason the
	// caller, seeing only a status, cannot know.
	Logf func(format string, args ...any)
}

type service struct {
	manifest  ServiceManifest
	partition string
	handler   Handler
	// gate is held shared by every call in progress and exclusively by
	// Retire, which so waits for the calls to finish before the service's
	// secrets are wiped under them.
	gate    sync.RWMutex
	retired bool // guarded by gate
}

// Server is the partition manager and IPC server.
type Server struct {
	opt     Options
	started time.Time

	mu         sync.RWMutex
	services   map[uint32]*service
	partitions []PartitionManifest
	observers  []SessionObserver

	remotes []*Remote // partition processes (isolation levels 2 and 3)

	trace   atomic.Pointer[tracer] // nil: tracing off
	stopped atomic.Pointer[tracer] // the last ring, readable after StopTrace

	sessMu   sync.Mutex
	sessions map[uint64]*session
	nextSess uint64

	calls  atomic.Uint64
	errors atomic.Uint64

	lnMu     sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
	ready    chan struct{}
	shutdown atomic.Bool
}

// New returns a Server with no partitions.
func New(opt Options) *Server {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxSessions <= 0 {
		opt.MaxSessions = 256
	}
	if opt.MaxHandles <= 0 {
		opt.MaxHandles = 32
	}
	if opt.MaxSessionsPerClient <= 0 {
		opt.MaxSessionsPerClient = 64
	}
	if opt.MaxDirectLanes <= 0 {
		opt.MaxDirectLanes = 256
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 30 * time.Second
	}
	if opt.Spin == 0 {
		opt.Spin = shmring.SpinFromEnv()
	}
	opt.Spin = max(opt.Spin, 0)
	s := &Server{
		opt:      opt,
		services: map[uint32]*service{},
		sessions: map[uint64]*session{},
		conns:    map[net.Conn]bool{},
		ready:    make(chan struct{}),
	}
	s.started = opt.Now()
	return s
}

func (s *Server) logf(format string, args ...any) {
	if s.opt.Logf != nil {
		s.opt.Logf(format, args...)
	}
}

// Register adds a partition: its manifest and one handler per service name.
// A handler that implements SessionObserver is told when connections end.
func (s *Server) Register(m PartitionManifest, handlers map[string]Handler) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.partitions {
		if p.Name == m.Name {
			return merr(m.Name, "name", "a partition of that name is already registered")
		}
	}
	for i, sm := range m.Services {
		if _, dup := s.services[sm.SID]; dup {
			return merr(m.Name, fmt.Sprintf("services[%d].sid", i), "0x%x is already served by %s", sm.SID, s.services[sm.SID].partition)
		}
		if handlers[sm.Name] == nil {
			return merr(m.Name, fmt.Sprintf("services[%d]", i), "no handler for service %q", sm.Name)
		}
	}
	for _, sm := range m.Services {
		if sm.VersionPolicy == "" {
			sm.VersionPolicy = Strict
		}
		h := handlers[sm.Name]
		s.services[sm.SID] = &service{manifest: sm, partition: m.Name, handler: h}
		if o, ok := h.(SessionObserver); ok && !s.observing(o) {
			s.observers = append(s.observers, o)
		}
	}
	s.partitions = append(s.partitions, m)
	return nil
}

// observing reports whether o is already told about sessions. Observers are
// compared as interface values, so they must be comparable (pointers).
func (s *Server) observing(o SessionObserver) bool {
	for _, x := range s.observers {
		if x == o {
			return true
		}
	}
	return false
}

// session is one client connection: its identity and its handle table.
type session struct {
	info SessionInfo
	// deps, when not nil, are the only SIDs the session may reach: the
	// session of a secure partition, limited by its manifest's
	// dependencies.
	deps map[uint32]bool
	// name is the partition's name when the session is a partition's own.
	name string
	// inService is the time the last call spent in its handler (tracing).
	inService serviceTimer
	// serial keeps a partition process's calls of one SPM session one at
	// a time, whether they came from the SPM or on a direct lane.
	serial  sync.Mutex
	mu      sync.Mutex
	handles map[uint64]*service
	closed  bool
}

func (ss *session) get(h uint64) (*service, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	svc, ok := ss.handles[h]
	return svc, ok
}

func (ss *session) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.handles)
}

func (s *Server) openSession(client int32, uid, pid int) (*session, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if len(s.sessions) >= s.opt.MaxSessions {
		return nil, ipc.ErrConnectionBusy
	}
	n := 0
	for _, ss := range s.sessions {
		if ss.info.Client == client {
			n++
		}
	}
	if n >= s.opt.MaxSessionsPerClient {
		return nil, ipc.ErrConnectionBusy
	}
	s.nextSess++
	ss := &session{info: SessionInfo{ID: s.nextSess, Client: client, UID: uid, PID: pid}, handles: map[uint64]*service{}}
	s.sessions[ss.info.ID] = ss
	return ss, nil
}

// adoptSession opens a session for a call the SPM forwarded to this
// partition process: the SPM already applied the session quotas.
func (s *Server) adoptSession(client int32) *session {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	s.nextSess++
	ss := &session{info: SessionInfo{ID: s.nextSess, Client: client, UID: -1, PID: -1}, handles: map[uint64]*service{}}
	s.sessions[ss.info.ID] = ss
	return ss
}

// reaches reports whether ss may name sid at all.
func (ss *session) reaches(sid uint32) bool {
	return ss.deps == nil || ss.deps[sid]
}

// closeSession frees every handle of ss and tells the observers.
func (s *Server) closeSession(ss *session) {
	s.sessMu.Lock()
	if ss.closed {
		s.sessMu.Unlock()
		return
	}
	ss.closed = true
	delete(s.sessions, ss.info.ID)
	s.sessMu.Unlock()
	ss.mu.Lock()
	ss.handles = nil
	ss.mu.Unlock()
	s.mu.RLock()
	obs := append([]SessionObserver(nil), s.observers...)
	s.mu.RUnlock()
	for _, o := range obs {
		o.SessionClosed(ss.info)
	}
}

func (s *Server) lookup(sid uint32) *service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.services[sid]
}

func (s *Server) newHandle(ss *session) (uint64, error) {
	var b [8]byte
	for range 8 {
		if _, err := io.ReadFull(s.opt.Rand, b[:]); err != nil {
			return 0, err
		}
		h := binary.LittleEndian.Uint64(b[:]) &^ (1 << 63)
		if _, used := ss.handles[h]; h != 0 && !used {
			return h, nil
		}
	}
	return 0, errors.New("spe: no fresh handle value")
}

// handleFrame decodes one request frame from ss and appends the reply frame
// to dst. It never fails: a frame it cannot decode gets an error reply.
func (s *Server) handleFrame(ss *session, frame, dst []byte) []byte {
	req, err := ipc.ParseRequest(frame, s.opt.Limits)
	if err != nil {
		s.errors.Add(1)
		return ipc.AppendReply(dst, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(frame), Status: ipc.ErrProgrammerError})
	}
	ev := s.traceStart(ss, req)
	rep, held := s.dispatch(ss, req)
	if rep.Status != ipc.Success {
		s.errors.Add(1)
	}
	s.traceEnd(ss, ev, rep)
	dst = ipc.AppendReply(dst, rep)
	if held != nil {
		// The output vectors may point into the service's memory (a key's
		// material): keep the service from being retired and wiped until
		// they are copied into the reply frame.
		held.gate.RUnlock()
	}
	return dst
}

// dispatch runs req. When it called a service, it returns that service
// with its gate still held shared: the caller releases it once the reply
// is encoded.
func (s *Server) dispatch(ss *session, req *ipc.Request) (rep *ipc.Reply, held *service) {
	rep = &ipc.Reply{Kind: req.Kind, Seq: req.Seq}
	switch req.Kind {
	case ipc.KindVersion:
		if svc := s.lookup(req.SID); svc != nil && ss.reaches(req.SID) && svc.manifest.allows(ss.info.Client) {
			rep.Version = svc.manifest.Version
		}
	case ipc.KindConnect:
		svc := s.lookup(req.SID)
		if svc == nil || !ss.reaches(req.SID) || !svc.manifest.ConnectionBased || !svc.manifest.allows(ss.info.Client) || !svc.manifest.accepts(req.Version) {
			rep.Status = ipc.ErrConnectionRefused
			break
		}
		ss.mu.Lock()
		if ss.handles == nil {
			ss.mu.Unlock()
			rep.Status = ipc.ErrConnectionRefused // the session is closing
			break
		}
		if len(ss.handles) >= s.opt.MaxHandles {
			ss.mu.Unlock()
			rep.Status = ipc.ErrConnectionBusy
			break
		}
		h, err := s.newHandle(ss)
		if err != nil {
			ss.mu.Unlock()
			rep.Status = ipc.ErrInsufficientEntropy
			break
		}
		ss.handles[h] = svc
		ss.mu.Unlock()
		rep.Handle = h
	case ipc.KindClose:
		ss.mu.Lock()
		svc, ok := ss.handles[req.Handle]
		delete(ss.handles, req.Handle)
		ss.mu.Unlock()
		if !ok {
			rep.Status = ipc.ErrProgrammerError
			break
		}
		if h, remote := svc.handler.(*remoteHandler); remote {
			h.r.revokeHandle(ss.info.ID, req.Handle) // its direct lane too
		}
	case ipc.KindCall:
		svc, ok := ss.get(req.Handle)
		if !ok {
			rep.Status = ipc.ErrProgrammerError
			break
		}
		held = svc
		rep.Status, rep.Out = s.call(ss, svc, req)
	case ipc.KindSharedMemory, ipc.KindDirectLane:
		// Only a socket connection can be handed a memfd (serveConn
		// answers it there); an in-process or forwarded session cannot.
		rep.Status = ipc.ErrNotSupported
	case ipc.KindStateless:
		svc := s.lookup(req.SID)
		if svc == nil || !ss.reaches(req.SID) || !svc.manifest.Stateless || !svc.manifest.allows(ss.info.Client) || !svc.manifest.accepts(req.Version) {
			rep.Status = ipc.ErrConnectionRefused
			break
		}
		held = svc
		rep.Status, rep.Out = s.call(ss, svc, req)
	}
	return rep, held
}

// call runs req on svc. It takes svc's gate shared and leaves it held (see
// dispatch).
func (s *Server) call(ss *session, svc *service, req *ipc.Request) (st ipc.Status, out [][]byte) {
	s.calls.Add(1)
	m := &Message{Client: ss.info.Client, Session: ss.info.ID, Type: req.Type, In: req.In, OutSize: req.OutSize}
	svc.gate.RLock()
	if svc.retired {
		// A handle opened before the service was retired (decommissioning).
		return ipc.ErrBadState, make([][]byte, len(req.OutSize))
	}
	defer func() {
		// A panicking service must not take the SPE down with it.
		if r := recover(); r != nil {
			s.logf("spe: %s: call %d from client %d panicked: %v", svc.manifest.Name, m.Type, m.Client, r)
			st, out = ipc.ErrServiceFailure, nil
		}
	}()
	var t0 time.Time
	if s.trace.Load() != nil {
		t0 = time.Now()
	}
	st = svc.handler.Call(m)
	if !t0.IsZero() {
		ss.inService.Store(max(int64(time.Since(t0)), 1))
	}
	if st != ipc.Success && m.cause != nil {
		s.logf("spe: %s: call %d from client %d: %v", svc.manifest.Name, m.Type, m.Client, m.cause)
	}
	if len(req.OutSize) == 0 {
		return st, nil
	}
	out = m.Out
	if out == nil || st != ipc.Success {
		// A failed call returns empty outputs, whatever the service wrote.
		out = make([][]byte, len(req.OutSize))
	}
	for i := range out {
		if int64(len(out[i])) > int64(req.OutSize[i]) {
			return ipc.ErrServiceFailure, nil
		}
	}
	return st, out
}

// ServiceInfo describes one registered service, for status reports.
type ServiceInfo struct {
	Partition string        `json:"partition"`
	Name      string        `json:"name"`
	SID       uint32        `json:"sid"`
	Version   uint32        `json:"version"`
	Policy    VersionPolicy `json:"version_policy"`
}

// Stats is a snapshot of the server's state.
type Stats struct {
	Uptime   time.Duration `json:"uptime_ns"`
	Sessions int           `json:"sessions"`
	Handles  int           `json:"handles"`
	Calls    uint64        `json:"calls"`
	Errors   uint64        `json:"errors"`
	Services []ServiceInfo `json:"services"`
	// Processes are the partition processes (isolation levels 2 and 3).
	Processes []ProcessInfo `json:"processes,omitempty"`
}

// ProcessInfo describes one partition process.
type ProcessInfo struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"` // 0 while it is down
	Restarts int64  `json:"restarts"`
}

// Stats returns the server's counters and registered services.
func (s *Server) Stats() Stats {
	st := Stats{Uptime: s.opt.Now().Sub(s.started), Calls: s.calls.Load(), Errors: s.errors.Load()}
	s.sessMu.Lock()
	st.Sessions = len(s.sessions)
	for _, ss := range s.sessions {
		st.Handles += ss.count()
	}
	s.sessMu.Unlock()
	s.mu.RLock()
	for _, svc := range s.services {
		st.Services = append(st.Services, ServiceInfo{svc.partition, svc.manifest.Name, svc.manifest.SID, svc.manifest.Version, svc.manifest.VersionPolicy})
	}
	remotes := append([]*Remote(nil), s.remotes...)
	s.mu.RUnlock()
	for _, r := range remotes {
		st.Processes = append(st.Processes, ProcessInfo{Name: r.Name(), PID: r.PID(), Restarts: r.Restarts()})
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].SID < st.Services[j].SID })
	return st
}
