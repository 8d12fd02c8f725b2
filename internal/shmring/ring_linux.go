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
	lineSize  = 128
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
// it, and returns the region and the file to hand to the peer (by
// SCM_RIGHTS or to a child). The caller closes the file once handed over.
func Create(name string, lanes, slot int) (*Region, *os.File, error) {
	if err := checkShape(lanes, slot); err != nil {
		return nil, nil, err
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("shmring: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	size := lanes * LaneSize(slot)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("shmring: ftruncate: %w", err)
	}
	// Sealed before anyone else sees the file: no peer can shrink it under
	// our mapping (a SIGBUS in the SPE) or make it grow.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("shmring: seal: %w", err)
	}
	r, err := mapRegion(fd, lanes, slot, size)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// Open maps a region the peer created, after checking that its size is
// exactly lanes lanes of slot bytes and that it is sealed against
// shrinking and growing. fd stays the caller's to close.
func Open(fd int, lanes, slot int) (*Region, error) {
	if err := checkShape(lanes, slot); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("shmring: fstat: %w", err)
	}
	size := lanes * LaneSize(slot)
	if st.Size != int64(size) || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("shmring: region of %d bytes, want %d", st.Size, size)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, fmt.Errorf("shmring: seals: %w", err)
	}
	if want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW; seals&want != want {
		return nil, fmt.Errorf("shmring: region not sealed against resizing (seals 0x%x)", seals)
	}
	return mapRegion(fd, lanes, slot, size)
}

func mapRegion(fd, lanes, slot, size int) (*Region, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shmring: mmap: %w", err)
	}
	r := &Region{mem: mem, slot: slot}
	for i := range lanes {
		b := mem[i*LaneSize(slot) : (i+1)*LaneSize(slot)]
		r.lanes = append(r.lanes, &Lane{
			Req: newSlot(b[0:lineSize], b[ctlSize:ctlSize+slot]),
			Rep: newSlot(b[lineSize:2*lineSize], b[ctlSize+slot:]),
		})
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
	return err
}

// Lane is a request slot and a reply slot. The client writes Req and
// reads Rep; the server the other way round.
type Lane struct {
	Req, Rep *Slot
}

// Slot is one direction of a lane: one writer, one reader.
type Slot struct {
	seq, length, sleeping *uint32
	data                  []byte
	next                  uint32 // the writer's own count: never read back from shared memory
}

func newSlot(ctl, data []byte) *Slot {
	return &Slot{
		seq:      (*uint32)(unsafe.Pointer(&ctl[wSeq])),
		length:   (*uint32)(unsafe.Pointer(&ctl[wLen])),
		sleeping: (*uint32)(unsafe.Pointer(&ctl[wSleeping])),
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
		futexWake(s.seq)
	}
	return nil
}

// Wake wakes a reader sleeping on the slot (to see a stop condition).
func (s *Slot) Wake() { futexWake(s.seq) }

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

// futex(2) operations (not in x/sys/unix).
const (
	opFutexWait = 0
	opFutexWake = 1
)

func futexWait(addr *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	// FUTEX_WAIT without the private flag: the word is shared between
	// processes. EAGAIN (the word changed), EINTR and ETIMEDOUT all just
	// return; the caller checks the word again.
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opFutexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(addr *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opFutexWake, 1, 0, 0, 0)
}

// osYield gives the core to another runnable thread, if there is one.
func osYield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
