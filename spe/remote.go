package spe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// RemoteOptions describes a partition process the SPM starts and routes to
// (isolation levels 2 and 3, docs/spe-isolation.md).
type RemoteOptions struct {
	// Name names the process in logs and errors ("prot", "app", a partition).
	Name string
	// Manifests are the partitions the process hosts: the SPM registers
	// their services and routes each call of those SIDs to the process.
	Manifests []PartitionManifest
	// Partitions maps the IDs of the hosted partitions that call other
	// services to their manifests: a call the process makes is accepted
	// only under one of these IDs, and reaches only its dependencies.
	Partitions map[int32]*PartitionManifest
	// Command returns the command that runs the process; the SPM adds its
	// end of the link as file descriptor 3.
	Command func() *exec.Cmd
	// Hello is what the process is told to run (its first frame).
	Hello []byte
	// HelloFunc, when set, makes the hello of each start instead (what a
	// process is told may change between its runs: decommissioning).
	HelloFunc func() []byte
	// StartTimeout bounds a start (default 30 s).
	StartTimeout time.Duration
	// CallTimeout bounds one forwarded call (default 60 s): a process that
	// does not answer in time is killed and started again, and the caller
	// gets PSA_ERROR_SERVICE_FAILURE. (Answering the caller and leaving the
	// call running would let the session's next call overtake it.)
	CallTimeout time.Duration
}

// Remote is a partition process seen from the SPM: the services of its
// partitions are registered on the SPM's server with handlers that forward
// each call over the link. When the process dies, the calls in progress
// fail with PSA_ERROR_SERVICE_FAILURE and the SPM starts it again.
type Remote struct {
	s   *Server
	opt RemoteOptions

	mu       sync.Mutex
	cur      *remoteConn // nil while the process is down
	up       chan struct{}
	stopped  bool
	restarts atomic.Int64
	seq      atomic.Uint32
}

// remoteConn is one run of the partition process.
type remoteConn struct {
	cmd  *exec.Cmd
	conn net.Conn
	wmu  sync.Mutex
	wbuf []byte
	done chan struct{}

	mu      sync.Mutex
	pending map[uint32]chan []byte
	touched map[uint64]bool     // SPM sessions that reached the process
	out     map[uint64]*session // the process's own sessions (its calls)

	lanes  *lanePool    // nil: every call over the socket
	direct directGrants // the direct lanes of clients to this run (direct.go)
}

// StartRemote starts a partition process and registers its partitions'
// services on s. It returns once the process is serving, or why it could
// not start.
func (s *Server) StartRemote(opt RemoteOptions) (*Remote, error) {
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = 30 * time.Second
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 60 * time.Second
	}
	r := &Remote{s: s, opt: opt, up: make(chan struct{})}
	for _, m := range opt.Manifests {
		hs := map[string]Handler{}
		for _, sm := range m.Services {
			hs[sm.Name] = &remoteHandler{r: r, sid: sm.SID, version: sm.Version}
		}
		if err := s.Register(m, hs); err != nil {
			return nil, err
		}
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.remotes = append(s.remotes, r)
	s.observers = append(s.observers, r)
	s.mu.Unlock()
	return r, nil
}

// PID returns the process's pid, or 0 while it is down.
func (r *Remote) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return 0
	}
	return r.cur.cmd.Process.Pid
}

// Restarts counts how often the process was started again after it ended.
func (r *Remote) Restarts() int64 { return r.restarts.Load() }

// WaitUp waits until the process serves (up to d) and reports whether it does.
func (r *Remote) WaitUp(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r.PID() != 0 {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (r *Remote) start() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("spe: partition %s: socketpair: %w", r.opt.Name, err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "spm-link"), os.NewFile(uintptr(fds[1]), "partition-link")
	conn, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return fmt.Errorf("spe: partition %s: %w", r.opt.Name, err)
	}
	cmd := r.opt.Command()
	cmd.ExtraFiles = []*os.File{theirs}
	var region *shmring.Region
	var laneFiles []*os.File
	var shmHello []byte
	lerr := errNoLane
	if !r.s.opt.NoSharedMemory {
		region, laneFiles, shmHello, lerr = createLanes()
	}
	if lerr == nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, laneFiles...) // from linkLaneFD on
	}
	err = cmd.Start()
	theirs.Close()
	shmring.CloseFiles(laneFiles)
	if region != nil {
		region.Rearm()
	}
	if err != nil {
		if region != nil {
			region.Close()
		}
		conn.Close()
		return fmt.Errorf("spe: partition %s: start: %w", r.opt.Name, err)
	}
	rc := &remoteConn{cmd: cmd, conn: conn, done: make(chan struct{}),
		pending: map[uint32]chan []byte{}, touched: map[uint64]bool{}, out: map[uint64]*session{}}
	if region != nil {
		rc.lanes = newLanePool(region, r.s.opt.Spin)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	if err := r.handshake(rc, br, shmHello); err != nil {
		rc.lanes.close()
		conn.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	r.mu.Lock()
	r.cur = rc
	r.mu.Unlock()
	go r.read(rc, br)
	return nil
}

func (r *Remote) handshake(rc *remoteConn, br *bufio.Reader, shmHello []byte) error {
	if rc.lanes != nil {
		if err := rc.send(linkShm, 0, 0, shmHello); err != nil {
			return fmt.Errorf("spe: partition %s: lanes: %w", r.opt.Name, err)
		}
	}
	hello := r.opt.Hello
	if r.opt.HelloFunc != nil {
		hello = r.opt.HelloFunc()
	}
	if err := rc.send(linkHello, 0, 0, hello); err != nil {
		return fmt.Errorf("spe: partition %s: hello: %w", r.opt.Name, err)
	}
	rc.conn.SetReadDeadline(time.Now().Add(r.opt.StartTimeout))
	defer rc.conn.SetReadDeadline(time.Time{})
	f, _, err := readLinkFrame(br, nil, r.s.opt.Limits)
	if err != nil {
		return fmt.Errorf("spe: partition %s: no ready answer: %w", r.opt.Name, err)
	}
	var msg readyMsg
	if f.op != linkReady || json.Unmarshal(f.payload, &msg) != nil {
		return fmt.Errorf("%w: partition %s answered op %d to hello", errLink, r.opt.Name, f.op)
	}
	if msg.Error != "" {
		return fmt.Errorf("spe: partition %s did not start: %s", r.opt.Name, msg.Error)
	}
	if rc.lanes != nil && msg.Lanes != linkLanes {
		rc.lanes.close() // the process could not map them: the socket only
		rc.lanes = nil
	}
	return nil
}

func (rc *remoteConn) send(op byte, session uint64, client int32, payload []byte) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.wbuf = appendLinkFrame(rc.wbuf[:0], op, session, client, payload)
	_, err := rc.conn.Write(rc.wbuf)
	return err
}

// read serves one run of the process until its link ends, then restarts it.
func (r *Remote) read(rc *remoteConn, br *bufio.Reader) {
	var buf []byte
	var err error
	for {
		var f linkFrame
		f, buf, err = readLinkFrame(br, buf, r.s.opt.Limits)
		if err != nil {
			break
		}
		if !r.handle(rc, f) {
			err = fmt.Errorf("%w: op %d from the partition", errLink, f.op)
			break
		}
	}
	if !errors.Is(err, net.ErrClosed) {
		r.s.logf("spe: partition %s (pid %d) ended: %v", r.opt.Name, rc.cmd.Process.Pid, err)
	}
	r.down(rc)
	r.restart()
}

// handle acts on one frame from the process; false drops the link.
func (r *Remote) handle(rc *remoteConn, f linkFrame) bool {
	switch f.op {
	case linkReply:
		seq := ipc.PeekSeq(f.payload)
		rc.mu.Lock()
		ch := rc.pending[seq]
		delete(rc.pending, seq)
		rc.mu.Unlock()
		if ch != nil {
			ch <- append([]byte(nil), f.payload...)
		}
	case linkOut:
		ss, ok := r.outSession(rc, f.session, f.client)
		frame := append([]byte(nil), f.payload...)
		go func() {
			var out []byte
			if !ok {
				out = ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindError, Seq: ipc.PeekSeq(frame), Status: ipc.ErrConnectionRefused})
			} else {
				out = r.s.handleFrame(ss, frame, nil)
			}
			_ = rc.send(linkOutReply, f.session, f.client, out)
		}()
	case linkBindFailed:
		m, err := bindPayload(f.payload)
		if err != nil {
			return false
		}
		rc.bindFailed(m.ID)
	case linkOutEnd:
		rc.mu.Lock()
		ss := rc.out[f.session]
		delete(rc.out, f.session)
		rc.mu.Unlock()
		if ss != nil {
			r.s.closeSession(ss)
		}
	default:
		return false
	}
	return true
}

// outSession returns the SPM session of one of the process's own sessions:
// it must be one of the partitions the process hosts, and reaches only that
// partition's dependencies.
func (r *Remote) outSession(rc *remoteConn, id uint64, client int32) (*session, bool) {
	m := r.opt.Partitions[client]
	if m == nil {
		r.s.logf("spe: partition %s called as partition %d, which it does not host: refused", r.opt.Name, client)
		return nil, false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if ss := rc.out[id]; ss != nil {
		if ss.info.Client != client {
			return nil, false
		}
		return ss, true
	}
	ss, err := r.s.openSession(client, -1, rc.cmd.Process.Pid)
	if err != nil {
		return nil, false
	}
	ss.deps = m.dependencySet()
	ss.name = m.Name
	rc.out[id] = ss
	return ss, true
}

// down forgets a run of the process: its calls in progress fail and its own
// sessions end.
func (r *Remote) down(rc *remoteConn) {
	r.mu.Lock()
	if r.cur == rc {
		r.cur = nil
	}
	r.mu.Unlock()
	rc.conn.Close()
	close(rc.done)
	rc.lanes.close()
	rc.runEnded()
	// A process told to stop (its link closed) gets a moment to close what
	// it holds (the audit log's checkpoint); a dead one is reaped at once.
	exited := make(chan struct{})
	go func() { rc.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
		rc.cmd.Process.Kill()
		<-exited
	}
	rc.mu.Lock()
	out := rc.out
	rc.out = map[uint64]*session{}
	rc.mu.Unlock()
	for _, ss := range out {
		r.s.closeSession(ss)
	}
}

// restart starts the process again, backing off while it fails to start.
func (r *Remote) restart() {
	wait := 50 * time.Millisecond
	for {
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped || r.s.shutdown.Load() {
			return
		}
		err := r.start()
		if err == nil {
			r.restarts.Add(1)
			r.s.logf("spe: partition %s restarted (pid %d)", r.opt.Name, r.PID())
			return
		}
		r.s.logf("spe: partition %s: restart: %v", r.opt.Name, err)
		time.Sleep(wait)
		if wait < 5*time.Second {
			wait *= 2
		}
	}
}

// Kill ends the process at once (SIGKILL) and returns once it is gone, its
// memory with it; the SPM then starts it again as after a crash.
// Decommissioning uses it so that no process keeps a key in memory.
func (r *Remote) Kill(wait time.Duration) error {
	r.mu.Lock()
	rc := r.cur
	r.mu.Unlock()
	if rc == nil {
		return nil
	}
	if err := rc.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("spe: partition %s: %w", r.opt.Name, err)
	}
	// The link ends when the kernel closes the process's descriptors,
	// which it does after releasing its memory.
	select {
	case <-rc.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("spe: partition %s did not end within %v of SIGKILL", r.opt.Name, wait)
	}
}

// stop ends the process for good (Server.Shutdown).
func (r *Remote) stop() {
	r.mu.Lock()
	r.stopped = true
	rc := r.cur
	r.mu.Unlock()
	if rc != nil {
		rc.conn.Close()
		<-rc.done
	}
}

// SessionClosed tells the process that a session which reached it ended.
func (r *Remote) SessionClosed(info SessionInfo) {
	r.mu.Lock()
	rc := r.cur
	r.mu.Unlock()
	if rc == nil {
		return
	}
	rc.mu.Lock()
	was := rc.touched[info.ID]
	delete(rc.touched, info.ID)
	rc.mu.Unlock()
	rc.sessionEnded(info.ID)
	if was {
		_ = rc.send(linkEnd, info.ID, info.Client, nil)
	}
}

// remoteHandler forwards the calls of one service to the process.
type remoteHandler struct {
	r       *Remote
	sid     uint32
	version uint32
}

func (h *remoteHandler) Call(m *Message) ipc.Status {
	r := h.r
	r.mu.Lock()
	rc := r.cur
	r.mu.Unlock()
	if rc == nil {
		return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s is down", r.opt.Name))
	}
	seq := r.seq.Add(1)
	frame, err := ipc.AppendRequest(nil, &ipc.Request{Kind: ipc.KindStateless, Seq: seq, SID: h.sid, Version: h.version,
		Type: m.Type, In: m.In, OutSize: m.OutSize}, r.s.opt.Limits)
	if err != nil {
		return m.Fail(ipc.ErrServiceFailure, err)
	}
	rc.mu.Lock()
	rc.touched[m.Session] = true
	rc.mu.Unlock()
	var outTotal int64
	for _, n := range m.OutSize {
		outTotal += int64(n)
	}
	b, err := rc.lanes.call(m.Session, m.Client, frame, outTotal, rc.done, r.opt.CallTimeout)
	switch {
	case err == nil:
	case errors.Is(err, errNoLane):
		if b, err = r.callSocket(rc, m, seq, frame); err != nil {
			return m.Fail(ipc.ErrServiceFailure, err)
		}
	case errors.Is(err, shmring.ErrClosed):
		return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s ended during the call", r.opt.Name))
	case errors.Is(err, shmring.ErrTimeout):
		rc.cmd.Process.Kill() // the read loop sees the link end and restarts it
		return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s did not answer in %v: killed", r.opt.Name, r.opt.CallTimeout))
	default: // a malformed frame on a lane costs the process its link, as on the socket
		rc.cmd.Process.Kill()
		return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s: %w: killed", r.opt.Name, err))
	}
	rep, err := ipc.ParseReply(b, r.s.opt.Limits)
	if err != nil || (rep.Kind != ipc.KindStateless && rep.Kind != ipc.KindError) {
		return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s: bad reply: %v", r.opt.Name, err))
	}
	for i, o := range rep.Out {
		if len(o) > 0 {
			if st := m.Write(i, o); st != ipc.Success {
				return m.Fail(ipc.ErrServiceFailure, fmt.Errorf("partition process %s: output %d too long", r.opt.Name, i))
			}
		}
	}
	return rep.Status
}

// callSocket forwards one call over the link's socket and waits for its
// reply frame.
func (r *Remote) callSocket(rc *remoteConn, m *Message, seq uint32, frame []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	rc.mu.Lock()
	rc.pending[seq] = ch
	rc.mu.Unlock()
	if err := rc.send(linkCall, m.Session, m.Client, frame); err != nil {
		return nil, fmt.Errorf("partition process %s: %w", r.opt.Name, err)
	}
	timer := time.NewTimer(r.opt.CallTimeout)
	defer timer.Stop()
	select {
	case b := <-ch:
		return b, nil
	case <-rc.done:
		return nil, fmt.Errorf("partition process %s ended during the call", r.opt.Name)
	case <-timer.C:
		rc.cmd.Process.Kill() // the read loop sees the link end and restarts it
		return nil, fmt.Errorf("partition process %s did not answer in %v: killed", r.opt.Name, r.opt.CallTimeout)
	}
}

// Name returns the process's name (its group).
func (r *Remote) Name() string { return r.opt.Name }
