//go:build !linux

package shmring

import (
	"errors"
	"os"
	"time"
)

// The shared-memory link needs memfd and eventfd: Linux only. Elsewhere
// every caller falls back to the socket.

const (
	DefaultSlot = 64 << 10
	MaxSlot     = 2 << 20
	MaxLanes    = 64
)

var (
	ErrClosed   = errors.New("shmring: closed")
	ErrTimeout  = errors.New("shmring: timed out")
	ErrTooLarge = errors.New("shmring: frame larger than the slot")
	ErrLength   = errors.New("shmring: length word beyond the slot")
	errNotLinux = errors.New("shmring: shared-memory link needs Linux")
)

type Region struct{}
type Lane struct{ Req, Rep *Slot }
type Slot struct{ seq, sleeping *uint32 }

func (s *Slot) publishCPU()      {}
func (s *Slot) peerLastCPU() int { return -1 }
func cpuNow() (int, bool)        { return 0, false }
func moveOff(int) bool           { return false }

func (s *Slot) sleep(time.Duration) {}

func LaneSize(slot int) int                              { return 4096 + 2*slot }
func Create(string, int, int) (*Region, *os.File, error) { return nil, nil, errNotLinux }
func Open(int, int, int) (*Region, error)                { return nil, errNotLinux }
func (r *Region) Lanes() []*Lane                         { return nil }
func (r *Region) Slot() int                              { return 0 }
func (r *Region) Close() error                           { return nil }
func (s *Slot) Size() int                                { return 0 }
func (s *Slot) Put([]byte) error                         { return errNotLinux }
func (s *Slot) Wake()                                    {}
func (s *Slot) Published() uint32                        { return 0 }
func (s *Slot) Take(last uint32, buf []byte, w *Waiter, stop func() bool, deadline time.Time) (uint32, []byte, error) {
	return last, buf, errNotLinux
}

func (l *Lane) State() uint32   { return 0 }
func (l *Lane) SetState(uint32) {}
