package ipc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
)

// DialOptions chooses how Dial reaches the SPE.
type DialOptions struct {
	// Socket keeps every call on the Unix socket: no shared-memory lane is
	// asked for. RAMPART_SPE_SHM=0 sets it for Dial.
	Socket bool
	// NoDirect keeps calls on a handle going through the partition manager
	// even where it would grant a direct lane to the partition's process
	// (isolation levels 2 and 3). RAMPART_SPE_DIRECT=0 sets it for Dial.
	NoDirect bool
	// Spin bounds how long a call on the shared-memory lane spins for its
	// reply before sleeping on its doorbell: 0 means shmring.SpinFromEnv()
	// (RAMPART_SPE_SPIN, default shmring.DefaultSpin), negative never spins.
	Spin time.Duration
}

// DialWith connects to the SPE's Unix socket at path and, unless
// opt.Socket, asks for a shared-memory lane (docs/spe-ipc.md section 1):
// calls whose request and largest reply fit its slots then go through
// shared memory, the others through the socket. An SPE that refuses the
// lane (an older one, or one that does not offer it) leaves every call
// on the socket.
func DialWith(path string, opt DialOptions) (*Conn, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	conn := NewConn(c, Limits{})
	conn.noDirect = opt.NoDirect
	if !opt.Socket {
		spin := opt.Spin
		if spin == 0 {
			spin = shmring.SpinFromEnv()
		}
		conn.shareMemory(max(spin, 0))
	}
	return conn, nil
}

// dialOptionsFromEnv is what Dial uses.
func dialOptionsFromEnv() DialOptions {
	return DialOptions{Socket: os.Getenv("RAMPART_SPE_SHM") == "0", NoDirect: os.Getenv("RAMPART_SPE_DIRECT") == "0"}
}

// SharedMemory reports whether calls can take the shared-memory lane.
func (c *Conn) SharedMemory() bool { return c.lane != nil }

// shareMemory asks for a lane. Any failure leaves the connection on the
// socket; a refusal of the connection itself is kept for the first call.
func (c *Conn) shareMemory(spin time.Duration) {
	uc, ok := c.c.(*net.UnixConn)
	if !ok {
		return
	}
	c.seq++
	frame, _ := AppendRequest(nil, &Request{Kind: KindSharedMemory, Seq: c.seq}, c.lim)
	if _, err := uc.Write(frame); err != nil {
		c.refused = c.pendingRefusal()
		return
	}
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer uc.SetReadDeadline(time.Time{})
	rep, fds, err := c.readWithRights(uc)
	closeFDs := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if err != nil {
		closeFDs()
		c.broken = err
		return
	}
	if rep.Kind == KindError && rep.Seq == 0 {
		closeFDs()
		c.refused = rep // the SPE refused the connection before reading
		return
	}
	if rep.Kind != KindSharedMemory || rep.Status != Success || len(fds) == 0 {
		closeFDs()
		return // an SPE without the lane (an older one answers an error frame)
	}
	r, err := shmring.Open(fds, 1, int(rep.Slot)) // owns fds now
	if err != nil {
		return
	}
	c.region, c.lane, c.waiter = r, r.Lanes()[0], shmring.NewWaiter(spin)
	c.waiter.Apart = true // the caller moves off the SPE's CPU, never the SPE
}

// readWithRights reads one reply frame and the file descriptors sent with
// it; bytes read past the frame stay for the socket's reader.
func (c *Conn) readWithRights(uc *net.UnixConn) (*Reply, []int, error) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	var fds []int
	if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range msgs {
			if r, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	if err != nil {
		return nil, fds, fmt.Errorf("ipc: shared-memory reply: %w", err)
	}
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(buf[:n]), uc))
	f, err := ReadFrame(br, nil, c.lim)
	if err != nil {
		return nil, fds, fmt.Errorf("ipc: shared-memory reply: %w", err)
	}
	if br.Buffered() > 0 || n > len(f) {
		// Keep what followed the frame (nothing does, from this SPE).
		c.br = bufio.NewReaderSize(io.MultiReader(br, uc), 64<<10)
	}
	rep, err := ParseReply(f, c.lim)
	return rep, fds, err
}

// fitsLane reports whether req's frame and its largest reply fit a slot.
func (c *Conn) fitsLane(req *Request) bool { return c.lane != nil && c.fits(req, c.lane) }

// fits reports whether req's frame (in c.wbuf) and its largest reply fit
// l's slots.
func (c *Conn) fits(req *Request, l *shmring.Lane) bool {
	if len(c.wbuf) > l.Req.Size() {
		return false
	}
	need := int64(replyOverhead)
	for _, n := range req.OutSize {
		need += int64(n)
	}
	return need <= int64(l.Rep.Size())
}

// roundTripLane sends the encoded request (c.wbuf) through shared memory
// and waits for its reply frame in c.rbuf.
func (c *Conn) roundTripLane() error {
	if err := c.lane.Req.Put(c.wbuf); err != nil {
		return err
	}
	var err error
	c.last, c.rbuf, err = c.lane.Rep.Take(c.last, c.rbuf, c.waiter, c.laneStopped, time.Time{})
	return err
}

// laneStopped is checked between doorbell sleeps: the connection was closed
// here, or the SPE hung up (the socket is the lane's liveness channel).
func (c *Conn) laneStopped() bool {
	if c.closed.Load() {
		return true
	}
	raw, err := c.c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	raw.Control(func(fd uintptr) { gone = hungUp(fd) })
	return gone
}

// errRefused is returned by calls after the SPE refused the connection.
var errRefused = errors.New("ipc: the SPE refused the connection")

// LaneWaits counts this connection's waits for a reply on the lane: those
// met while spinning, those that slept on the doorbell, and the moves off
// the SPE's CPU (for benchmarks).
func (c *Conn) LaneWaits() (spun, slept, moved uint64) {
	if c.waiter == nil {
		return 0, 0, 0
	}
	return c.waiter.Spun.Load(), c.waiter.Slept.Load(), c.waiter.Moved.Load()
}
