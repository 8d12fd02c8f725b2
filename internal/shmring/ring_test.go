//go:build linux

package shmring

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair maps one region twice, as two processes would: the creator's
// mapping and the peer's, at different addresses over the same pages.
func pair(t testing.TB, lanes int) (*Region, *Region) {
	t.Helper()
	a, files, err := Create("test", lanes, 4096)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(dupAll(t, files), lanes, 4096)
	CloseFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// dupAll duplicates the peer's descriptors, as passing them would.
func dupAll(t testing.TB, files []*os.File) []int {
	var fds []int
	for _, fd := range FDs(files) {
		d, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, d)
	}
	return fds
}

func TestLaneRoundTrip(t *testing.T) {
	for _, spin := range []time.Duration{0, DefaultSpin} {
		t.Run(fmt.Sprint("spin ", spin), func(t *testing.T) {
			cli, srv := pair(t, 2)
			var stop atomic.Bool
			done := make(chan error)
			go func() { // an echo server that prefixes "re:"
				w := NewWaiter(spin)
				var last uint32
				var buf []byte
				for {
					var err error
					last, buf, err = srv.Lanes()[1].Req.Take(last, buf, w, stop.Load, time.Time{})
					if err != nil {
						done <- err
						return
					}
					srv.Lanes()[1].Rep.Put(append([]byte("re:"), buf...))
				}
			}()
			w := NewWaiter(spin)
			var last uint32
			var buf []byte
			for i := range 200 {
				msg := []byte(fmt.Sprint("frame ", i))
				if err := cli.Lanes()[1].Req.Put(msg); err != nil {
					t.Fatal(err)
				}
				var err error
				last, buf, err = cli.Lanes()[1].Rep.Take(last, buf, w, nil, time.Now().Add(10*time.Second))
				if err != nil || !bytes.Equal(buf, append([]byte("re:"), msg...)) {
					t.Fatalf("reply %q, %v", buf, err)
				}
				if i%50 == 0 {
					time.Sleep(2 * time.Millisecond) // let the server go to sleep
				}
			}
			if w.Spun.Load()+w.Slept.Load() == 0 {
				t.Fatal("the client never waited")
			}
			stop.Store(true)
			srv.Lanes()[1].Req.Wake()
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Fatalf("server ended with %v, want ErrClosed", err)
			}
		})
	}
}

func TestTakeTimesOut(t *testing.T) {
	cli, _ := pair(t, 1)
	_, _, err := cli.Lanes()[0].Rep.Take(0, nil, NewWaiter(0), nil, time.Now().Add(20*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestPutTooLarge(t *testing.T) {
	cli, _ := pair(t, 1)
	if err := cli.Lanes()[0].Req.Put(make([]byte, 4097)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// A peer that writes a length word beyond the slot gets an error, never a
// read past the slot.
func TestHostileLength(t *testing.T) {
	cli, srv := pair(t, 1)
	s := cli.Lanes()[0].Req
	*s.length = 1 << 30
	*s.seq = 7
	seq, buf, err := srv.Lanes()[0].Req.Take(0, nil, NewWaiter(0), nil, time.Time{})
	if !errors.Is(err, ErrLength) || len(buf) != 0 || seq != 7 {
		t.Fatalf("got seq %d, %d bytes, %v", seq, len(buf), err)
	}
}

// Open refuses a region it could be made to fault on: unsealed, or of
// another size than the one agreed.
func TestOpenRefuses(t *testing.T) {
	fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "unsealed")
	defer f.Close()
	unix.Ftruncate(fd, int64(LaneSize(4096)))
	e1, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	e2, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	d, _ := unix.Dup(fd)
	if _, err := Open([]int{d, e1, e2}, 1, 4096); err == nil {
		t.Fatal("an unsealed region was accepted")
	}
	_, g, err := Create("sealed", 2, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseFiles(g)
	if _, err := Open(dupAll(t, g)[:3], 1, 4096); err == nil {
		t.Fatal("a region of the wrong size was accepted")
	}
	if err := unix.Ftruncate(FDs(g)[0], 4096); err == nil {
		t.Fatal("a sealed region could be shrunk")
	}
}

// FuzzTake: whatever a hostile peer leaves in a slot's words and bytes,
// Take returns at most a slot's worth, copied, or an error.
func FuzzTake(f *testing.F) {
	f.Add(uint32(1), uint32(5), []byte("hello"))
	f.Add(uint32(0xffffffff), uint32(0xffffffff), []byte{})
	f.Add(uint32(2), uint32(4096), bytes.Repeat([]byte{0xaa}, 100))
	a, b := pair(f, 1)
	f.Fuzz(func(t *testing.T, seq, length uint32, data []byte) {
		w := a.Lanes()[0].Req
		copy(w.data, data)
		*w.length = length
		*w.seq = seq
		r := b.Lanes()[0].Req
		got, buf, err := r.Take(seq+1, nil, NewWaiter(0), nil, time.Now().Add(time.Millisecond))
		if err == nil && (len(buf) > r.Size() || got != seq || int(length) != len(buf)) {
			t.Fatalf("seq %d length %d: took %d bytes as seq %d", seq, length, len(buf), got)
		}
		if err == nil && len(buf) > 0 {
			w.data[0] ^= 0xff // the peer rewrites the slot: our copy must not change
			if len(data) > 0 && buf[0] != data[0] && int(length) <= len(data) {
				t.Fatal("the taken frame aliases shared memory")
			}
		}
	})
}
