package spe

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/secfile"
	"rampart/ipc"
)

// Listen creates the SPE's Unix socket at path for clients running under
// the SPE's own user: its directory is created with mode 0700 when missing
// and must have no group or other permissions when it exists, a stale
// socket file is replaced, and the socket gets mode 0600.
func (s *Server) Listen(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Created 0700; an existing one is checked, not tightened, below.
		if err = secfile.MkdirAll(dir); err == nil {
			fi, err = os.Stat(dir)
		}
	}
	if err != nil {
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	if err := checkPrivateDir(dir, fi); err != nil {
		return err
	}
	return s.listen(path, 0o600, -1)
}

// checkPrivateDir accepts the socket directory of Listen.
func checkPrivateDir(dir string, fi os.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("spe: socket directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("spe: socket directory %s has mode %04o, want 0700 (chmod 0700 %s, or let serve create it)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckSocket reports, changing nothing, whether Listen (gid < 0) or
// ListenGroup (gid >= 0) would accept path: the checks `spe serve
// --check-config` runs. A missing directory is accepted (serve creates it)
// when ListenGroup's parent exists.
func CheckSocket(path string, gid int) error {
	dir := filepath.Dir(path)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if gid >= 0 {
			if _, err := os.Stat(filepath.Dir(dir)); err != nil {
				return fmt.Errorf("spe: socket directory: %w", err)
			}
		}
		return nil
	case err != nil:
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	if gid >= 0 {
		err = checkSharedDir(dir, fi, gid)
	} else {
		err = checkPrivateDir(dir, fi)
	}
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("spe: socket path %s exists and is not a socket", path)
	}
	return nil
}

// ListenGroup creates the SPE's Unix socket at path for clients running
// under their own users, all members of the group gid (docs/spe-ipc.md,
// section 6): the socket is 0660 with group gid, in a directory owned by
// the SPE's user with group gid and mode 0750 (or 0710), which Listen
// creates when missing (its parent must exist). An existing directory with
// another owner or group, group write permission (a client could replace
// the socket with its own and impersonate the SPE) or any permission for
// others is refused. The SPE's user must be a member of gid (or root) to
// give the directory and socket that group.
func (s *Server) ListenGroup(path string, gid int) error {
	if gid < 0 {
		return fmt.Errorf("spe: socket group %d", gid)
	}
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err == nil {
		if err := os.Chown(dir, -1, gid); err != nil {
			return fmt.Errorf("spe: socket directory: group %d (is the SPE's user a member?): %w", gid, err)
		}
		if err := os.Chmod(dir, 0o750); err != nil {
			return fmt.Errorf("spe: socket directory: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	if err := checkSharedDir(dir, fi, gid); err != nil {
		return err
	}
	return s.listen(path, 0o660, gid)
}

// checkSharedDir accepts the socket directory of ListenGroup.
func checkSharedDir(dir string, fi os.FileInfo, gid int) error {
	if !fi.IsDir() {
		return fmt.Errorf("spe: socket directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("spe: socket directory %s: no owner information", dir)
	}
	if int(st.Uid) != os.Geteuid() || int(st.Gid) != gid {
		return fmt.Errorf("spe: socket directory %s belongs to %d:%d, want the SPE's user and the socket group (%d:%d)", dir, st.Uid, st.Gid, os.Geteuid(), gid)
	}
	if perm := fi.Mode().Perm(); perm != 0o750 && perm != 0o710 {
		return fmt.Errorf("spe: socket directory %s has mode %v, want 0750 (no group write, nothing for others)", dir, perm)
	}
	return nil
}

// listen binds path with mode and, when gid >= 0, that group, replacing a
// stale socket file.
func (s *Server) listen(path string, mode os.FileMode, gid int) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("spe: socket path %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("spe: remove stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o777 &^ int(mode))
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("spe: listen: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return fmt.Errorf("spe: socket group: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return fmt.Errorf("spe: socket mode: %w", err)
	}
	s.lnMu.Lock()
	s.ln = ln
	s.lnMu.Unlock()
	close(s.ready)
	return nil
}

// Ready is closed once the socket listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the listening socket's path, or "" before Listen.
func (s *Server) Addr() string {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve accepts connections until Shutdown. Each connection gets its own
// goroutine and session.
func (s *Server) Serve() error {
	s.lnMu.Lock()
	ln := s.ln
	s.lnMu.Unlock()
	if ln == nil {
		return errors.New("spe: serve before listen")
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("spe: accept: %w", err)
		}
		s.lnMu.Lock()
		if s.shutdown.Load() {
			s.lnMu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.lnMu.Unlock()
		go s.serveConn(c)
	}
}

// Shutdown stops accepting, closes every connection (their sessions end as
// if the clients had gone) and waits for their goroutines.
func (s *Server) Shutdown() {
	s.shutdown.Store(true)
	s.lnMu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.lnMu.Unlock()
	s.wg.Wait()
	s.mu.RLock()
	remotes := append([]*Remote(nil), s.remotes...)
	s.mu.RUnlock()
	for _, r := range remotes {
		r.stop()
	}
}

// PeerCred returns the uid and pid the kernel recorded for a Unix socket peer.
func PeerCred(c net.Conn) (uid, pid int, err error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, -1, errors.New("spe: peer credentials: not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, -1, fmt.Errorf("spe: peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, -1, fmt.Errorf("spe: peer credentials: %w", err)
	}
	if cerr != nil {
		return -1, -1, fmt.Errorf("spe: SO_PEERCRED: %w", cerr)
	}
	return int(cred.Uid), int(cred.Pid), nil
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.lnMu.Lock()
		delete(s.conns, c)
		s.lnMu.Unlock()
		s.wg.Done()
	}()
	refuse := func(st ipc.Status) {
		c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
		c.Write(ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindError, Status: st}))
	}
	uid, pid, err := PeerCred(c)
	if err != nil || s.opt.Identify == nil {
		refuse(ipc.ErrConnectionRefused)
		return
	}
	client, err := s.opt.Identify(uid, pid)
	if err != nil || client == 0 {
		refuse(ipc.ErrConnectionRefused)
		return
	}
	ss, err := s.openSession(client, uid, pid)
	if err != nil {
		refuse(ipc.ErrConnectionBusy)
		return
	}
	defer s.closeSession(ss)
	// mu keeps the socket's and the lane's requests of this session one at
	// a time, as on the socket alone.
	var mu sync.Mutex
	var lane *sharedLane
	defer func() {
		if lane != nil {
			lane.end() // before the session closes: no call on a closed session
		}
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	var in, out []byte
	for {
		in, err = ipc.ReadFrame(br, in, s.opt.Limits)
		if err != nil {
			var fe *ipc.FrameError
			if errors.As(err, &fe) {
				// The length prefix itself is hostile: answer, then drop the
				// connection since the stream cannot be resynchronised.
				s.errors.Add(1)
				refuse(ipc.ErrProgrammerError)
			}
			return
		}
		if len(in) >= ipc.HeaderSize && ipc.Kind(in[5]) == ipc.KindSharedMemory {
			if req, err := ipc.ParseRequest(in, s.opt.Limits); err == nil {
				lane = s.shareMemory(ss, c, req.Seq, lane, &mu)
				continue
			}
		}
		if len(in) >= ipc.HeaderSize && ipc.Kind(in[5]) == ipc.KindDirectLane {
			if req, err := ipc.ParseRequest(in, s.opt.Limits); err == nil {
				s.directLane(ss, c, req, &mu)
				continue
			}
		}
		mu.Lock()
		out = s.handleFrame(ss, in, out[:0])
		mu.Unlock()
		c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
		if cap(in) > 256<<10 {
			in = nil // do not keep a huge buffer for an idle client
		}
	}
}
