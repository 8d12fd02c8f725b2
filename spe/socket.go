package spe

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"rampart/spe/ipc"
)

// Listen creates the SPE's Unix socket at path: its directory is created
// with mode 0700 when missing and must have no group or other permissions
// when it exists, a stale socket file is replaced, and the socket gets mode
// 0600.
func (s *Server) Listen(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("spe: socket directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("spe: socket directory %s has mode %v, want 0700", dir, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("spe: socket path %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("spe: remove stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("spe: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
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
		out = s.handleFrame(ss, in, out[:0])
		c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
		if cap(in) > 256<<10 {
			in = nil // do not keep a huge buffer for an idle client
		}
	}
}
