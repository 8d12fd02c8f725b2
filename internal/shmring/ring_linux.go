//go:build linux

package shmring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout of one lane: a control page (two cache lines of words, one per
// direction) and then the request and reply slots.
const (
	ctlSize = 4096
	// DefaultSlot is the slot size the SPE offers: every frame of an
	// ordinary call (a signature, a hash of a small message, a key) fits;
	// larger ones go over the socket.
	DefaultSlot = 64 << 10
	// MaxSlot bounds a slot (a whole frame of the default limits fits).
	MaxSlot = 2 << 20
	// MaxLanes bounds the lanes of one region.
	MaxLanes = 64
)

// offsets of the words of one direction, from its control line
const (
	wSeq      = 0
	wLen      = 4
	wSleeping = 8
	wCPU      = 12 // the CPU the slot's reader last ran on, plus one (0: unknown)
	lineSize  = 128
	// the lane's own line (the third): its state word (Lane.State)
	wState = 2 * lineSize
)

// Errors of a lane.
var (
	ErrClosed   = errors.New("shmring: closed")
	ErrTimeout  = errors.New("shmring: timed out")
	ErrTooLarge = errors.New("shmring: frame larger than the slot")
	ErrLength   = errors.New("shmring: length word beyond the slot")
)

// Region is a mapped shared-memory region of lanes.
type Region struct {
	mem   []byte
	slot  int
	lanes []*Lane
	bells []*os.File
}

// LaneSize is the bytes one lane of slot-sized slots takes.
func LaneSize(slot int) int { return ctlSize + 2*slot }

func checkShape(lanes, slot int) error {
	if lanes < 1 || lanes > MaxLanes {
		return fmt.Errorf("shmring: %d lanes, want 1..%d", lanes, MaxLanes)
	}
	if slot < 4096 || slot > MaxSlot || slot%4096 != 0 {
		return fmt.Errorf("shmring: slot of %d bytes, want a multiple of 4096 up to %d", slot, MaxSlot)
	}
	return nil
}

// Create makes a sealed memfd of lanes lanes of slot bytes each way, maps
// it, and makes each slot's doorbell (an eventfd). It returns the region
// and the files to hand to the peer (by SCM_RIGHTS or to a child, see
// Files): the memfd, then each lane's request and reply doorbells.
func Create(name string, lanes, slot int) (*Region, []*os.File, error) {
	if err := checkShape(lanes, slot); err != nil {
		return nil, nil, err
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("shmring: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	size := lanes * LaneSize(slot)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, nil, fmt.Errorf("shmring: ftruncate: %w", err)
	}
	// Sealed before anyone else sees the file: no peer can shrink it under
	// our mapping (a SIGBUS in the SPE) or make it grow.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return nil, nil, fmt.Errorf("shmring: seal: %w", err)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("shmring: dup: %w", err)
	}
	fds := []int{dup}
	for range 2 * lanes {
		e, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			for _, x := range fds {
				unix.Close(x)
			}
			return nil, nil, fmt.Errorf("shmring: eventfd: %w", err)
		}
		fds = append(fds, e)
	}
	// The peer's copies. They share the open file description (and its
	// O_NONBLOCK) with ours: after handing them to a child (os/exec makes a
	// passed file blocking) call Rearm.
	var peer []*os.File
	for _, x := range fds {
		d, err := unix.FcntlInt(uintptr(x), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, p := range peer {
				p.Close()
			}
			for _, x := range fds {
				unix.Close(x)
			}
			return nil, nil, fmt.Errorf("shmring: dup: %w", err)
		}
		peer = append(peer, os.NewFile(uintptr(d), "shmring"))
	}
	r, err := mapRegion(fds, lanes, slot, size)
	if err != nil {
		for _, p := range peer {
			p.Close()
		}
		return nil, nil, err
	}
	return r, peer, nil
}

// Open maps a region the peer created, after checking that its size is
// exactly lanes lanes of slot bytes and that it is sealed against
// shrinking and growing. fds are the memfd and the 2×lanes doorbells, in
// Create's order; Open owns them from then on (Region.Close closes them).
func Open(fds []int, lanes, slot int) (*Region, error) {
	closeAll := func() {
		for _, x := range fds {
			unix.Close(x)
		}
	}
	if err := checkShape(lanes, slot); err != nil {
		closeAll()
		return nil, err
	}
	if len(fds) != 1+2*lanes {
		closeAll()
		return nil, fmt.Errorf("shmring: %d descriptors for %d lanes, want %d", len(fds), lanes, 1+2*lanes)
	}
	fd := fds[0]
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		closeAll()
		return nil, fmt.Errorf("shmring: fstat: %w", err)
	}
	size := lanes * LaneSize(slot)
	if st.Size != int64(size) || st.Mode&unix.S_IFMT != unix.S_IFREG {
		closeAll()
		return nil, fmt.Errorf("shmring: region of %d bytes, want %d", st.Size, size)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("shmring: seals: %w", err)
	}
	if want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW; seals&want != want {
		closeAll()
		return nil, fmt.Errorf("shmring: region not sealed against resizing (seals 0x%x)", seals)
	}
	for _, e := range fds[1:] {
		// A doorbell handed to a child was made blocking by os/exec; the
		// Go poller needs it non-blocking.
		if err := unix.SetNonblock(e, true); err != nil {
			closeAll()
			return nil, fmt.Errorf("shmring: doorbell: %w", err)
		}
	}
	r, err := mapRegion(fds, lanes, slot, size)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// mapRegion maps fds[0] and wraps the doorbells fds[1:]; it owns fds.
func mapRegion(fds []int, lanes, slot, size int) (*Region, error) {
	mem, err := unix.Mmap(fds[0], 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	unix.Close(fds[0]) // the mapping keeps the memory
	if err != nil {
		for _, x := range fds[1:] {
			unix.Close(x)
		}
		return nil, fmt.Errorf("shmring: mmap: %w", err)
	}
	r := &Region{mem: mem, slot: slot}
	for i := range lanes {
		b := mem[i*LaneSize(slot) : (i+1)*LaneSize(slot)]
		req := os.NewFile(uintptr(fds[1+2*i]), "shmring-req")
		rep := os.NewFile(uintptr(fds[2+2*i]), "shmring-rep")
		r.bells = append(r.bells, req, rep)
		l := &Lane{
			Req:   newSlot(b[0:lineSize], b[ctlSize:ctlSize+slot], req),
			Rep:   newSlot(b[lineSize:2*lineSize], b[ctlSize+slot:], rep),
			state: (*uint32)(unsafe.Pointer(&b[wState])),
		}
		l.Req.peerCPU, l.Rep.peerCPU = l.Rep.cpu, l.Req.cpu
		r.lanes = append(r.lanes, l)
	}
	return r, nil
}

// Lanes returns the region's lanes.
func (r *Region) Lanes() []*Lane { return r.lanes }

// Slot returns the slot size: the largest frame a lane carries.
func (r *Region) Slot() int { return r.slot }

// Close unmaps the region. Nobody may use its lanes any more.
func (r *Region) Close() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	for _, b := range r.bells {
		b.Close()
	}
	return err
}

// Lane is a request slot and a reply slot. The client writes Req and
// reads Rep; the server the other way round.
type Lane struct {
	Req, Rep *Slot
	state    *uint32
}

// State is the lane's state word (0 when created). Its meaning is the
// user's (the SPE's direct lanes: docs/spe-isolation.md); either side may
// write it, so it is only ever a hint to the side that reads it.
func (l *Lane) State() uint32 { return atomic.LoadUint32(l.state) }

// SetState stores the lane's state word.
func (l *Lane) SetState(v uint32) { atomic.StoreUint32(l.state, v) }

// Slot is one direction of a lane: one writer, one reader.
type Slot struct {
	seq, length, sleeping *uint32
	cpu, peerCPU          *uint32 // this slot's reader's CPU word, and the other slot's
	data                  []byte
	bell                  *os.File // the eventfd the reader sleeps on
	next                  uint32   // the writer's own count: never read back from shared memory
}

func newSlot(ctl, data []byte, bell *os.File) *Slot {
	return &Slot{
		bell:     bell,
		seq:      (*uint32)(unsafe.Pointer(&ctl[wSeq])),
		length:   (*uint32)(unsafe.Pointer(&ctl[wLen])),
		sleeping: (*uint32)(unsafe.Pointer(&ctl[wSleeping])),
		cpu:      (*uint32)(unsafe.Pointer(&ctl[wCPU])),
		data:     data,
	}
}

// Size is the largest frame the slot carries.
func (s *Slot) Size() int { return len(s.data) }

// Put copies frame into the slot and publishes it, waking the reader if it
// sleeps. One goroutine at a time may Put on a slot.
func (s *Slot) Put(frame []byte) error {
	if len(frame) > len(s.data) {
		return ErrTooLarge
	}
	copy(s.data, frame)
	atomic.StoreUint32(s.length, uint32(len(frame)))
	s.next++
	atomic.StoreUint32(s.seq, s.next)
	// Sequentially consistent with the reader's store of sleeping and
	// load of seq: either it sees the new seq, or we see it sleeping.
	if atomic.LoadUint32(s.sleeping) != 0 {
		s.ring()
	}
	return nil
}

// Wake wakes a reader sleeping on the slot (to see a stop condition).
func (s *Slot) Wake() { s.ring() }

var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}

// ring adds one to the doorbell. It never blocks: a full counter (a
// hostile peer's doing) already wakes the reader.
func (s *Slot) ring() { s.bell.Write(one) }

// sleep waits on the doorbell up to d. The reader's goroutine parks in
// the Go poller (no thread held, unlike a futex wait), and the counter is
// reset by the read.
func (s *Slot) sleep(d time.Duration) {
	var b [8]byte
	s.bell.SetReadDeadline(time.Now().Add(d))
	s.bell.Read(b[:])
}

// Take waits (see Waiter) for a frame after sequence last, copies it into
// buf (grown as needed) and returns it with its sequence number. The copy
// is the only read of the frame's bytes: whatever the writer does to the
// slot afterwards, the returned frame does not change.
func (s *Slot) Take(last uint32, buf []byte, w *Waiter, stop func() bool, deadline time.Time) (uint32, []byte, error) {
	if err := w.wait(s, last, stop, deadline); err != nil {
		return last, buf, err
	}
	seq := atomic.LoadUint32(s.seq)
	n := atomic.LoadUint32(s.length) // read once: a bounds check on a value the writer cannot change afterwards
	if n > uint32(len(s.data)) {
		return seq, buf[:0], fmt.Errorf("%w: %d > %d", ErrLength, n, len(s.data))
	}
	buf = append(buf[:0], s.data[:n]...)
	return seq, buf, nil
}

// Published is the slot's current sequence number (what Take compares to).
func (s *Slot) Published() uint32 { return atomic.LoadUint32(s.seq) }

// Rearm makes the doorbells non-blocking again (os/exec made them blocking
// when it passed the peer's copies to a child: they share the open file
// description), so the Go poller serves them.
func (r *Region) Rearm() {
	for _, b := range r.bells {
		if rc, err := b.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), true) })
		}
	}
}

// FDs returns the descriptors of files without changing their blocking
// mode (File.Fd would make them blocking), for unix.UnixRights.
func FDs(files []*os.File) []int {
	var fds []int
	for _, f := range files {
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		}
	}
	return fds
}

// CloseFiles closes files (the peer's copies, once handed over).
func CloseFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// publishCPU writes the CPU this reader runs on into the slot's CPU word,
// for the peer's Apart waiter.
func (s *Slot) publishCPU() {
	if c, ok := cpuNow(); ok {
		atomic.StoreUint32(s.cpu, uint32(c)+1)
	}
}

// peerLastCPU is the CPU the other slot's reader (this slot's writer)
// last reported, or -1. The word is the peer's to write: any value is
// only a hint.
func (s *Slot) peerLastCPU() int { return int(atomic.LoadUint32(s.peerCPU)) - 1 }

// cpuNow is the CPU the calling thread runs on (one system call: Go does
// not call the vDSO's getcpu). After a refusal (a seccomp filter without
// getcpu, which may log each refused call) it is not asked again.
func cpuNow() (int, bool) {
	if noGetcpu.Load() {
		return 0, false
	}
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		noGetcpu.Store(true)
		return 0, false
	}
	return int(cpu), true
}

var noGetcpu atomic.Bool

// moveOff moves the calling thread off CPU cpu when another is allowed:
// it narrows the thread's affinity to the others (the kernel migrates it
// at once) and then restores the affinity it had, so the thread is never
// left pinned and the scheduler may place it anywhere again later.
func moveOff(cpu int) bool {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil || !set.IsSet(cpu) || set.Count() < 2 {
		return false
	}
	others := set
	others.Clear(cpu)
	if unix.SchedSetaffinity(0, &others) != nil {
		return false
	}
	unix.SchedSetaffinity(0, &set)
	return true
}
