// Package fdpool lets many files that are each used now and then share a
// bounded number of open file descriptors: a File is named by its path and
// opened on use; the least recently used idle descriptors are closed when
// more than the pool's limit are open. Ten thousand simulated devices, each
// with a flash file and an audit log written a few times a minute, then
// hold a few hundred descriptors instead of twenty thousand (the process's
// hard limit here).
//
// Every call goes to the file before it returns, as on an *os.File held
// open: a WriteAt is in the kernel when it returns, and Sync makes the file
// durable whichever descriptor wrote it (fsync applies to the file, not to
// the descriptor). It must never create a file (the caller creates it with
// the mode it needs, e.g. secfile.OpenFile) and never hold more than the
// limit of idle descriptors.
package fdpool

import (
	"container/list"
	"errors"
	"os"
	"sync"
)

// DefaultLimit is the idle descriptors a pool keeps open.
const DefaultLimit = 256

// Pool is a set of descriptors shared by its Files.
type Pool struct {
	mu    sync.Mutex
	limit int
	open  map[*File]*list.Element // the descriptors open, in lru
	lru   *list.List              // of *File, most recently used first
}

// New returns a pool keeping at most limit idle descriptors open.
func New(limit int) *Pool {
	return &Pool{limit: max(limit, 1), open: map[*File]*list.Element{}, lru: list.New()}
}

// Shared is the process's pool.
var Shared = New(DefaultLimit)

// ErrClosed is returned by a File used after Close.
var ErrClosed = errors.New("fdpool: file closed")

// File is a file of a pool opened read-write on use.
type File struct {
	pool   *Pool
	path   string
	fd     *os.File // nil while not open
	users  int      // calls using fd now: it is not closed under them
	closed bool
}

// Open names the existing file at path in p; it is checked to exist and be
// openable read-write, then left for the pool to open on use.
func (p *Pool) Open(path string) (*File, error) {
	f := &File{pool: p, path: path}
	if _, err := f.acquire(); err != nil {
		return nil, err
	}
	f.release()
	return f, nil
}

// Adopt hands fd, open read-write on path, to p: a file just created keeps
// its first descriptor.
func (p *Pool) Adopt(path string, fd *os.File) *File {
	f := &File{pool: p, path: path, fd: fd}
	p.mu.Lock()
	p.open[f] = p.lru.PushFront(f)
	p.trim()
	p.mu.Unlock()
	return f
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

func (f *File) acquire() (*os.File, error) {
	p := f.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.fd == nil {
		fd, err := os.OpenFile(f.path, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		f.fd = fd
		p.open[f] = p.lru.PushFront(f)
	} else {
		p.lru.MoveToFront(p.open[f])
	}
	f.users++
	p.trim()
	return f.fd, nil
}

func (f *File) release() {
	p := f.pool
	p.mu.Lock()
	f.users--
	p.trim()
	p.mu.Unlock()
}

// trim closes the least recently used idle descriptors over the limit.
func (p *Pool) trim() {
	for e := p.lru.Back(); e != nil && len(p.open) > p.limit; {
		prev := e.Prev()
		if f := e.Value.(*File); f.users == 0 {
			f.fd.Close()
			f.fd = nil
			p.lru.Remove(e)
			delete(p.open, f)
		}
		e = prev
	}
}

// ReadAt reads from the file at off.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	fd, err := f.acquire()
	if err != nil {
		return 0, err
	}
	defer f.release()
	return fd.ReadAt(b, off)
}

// WriteAt writes to the file at off.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	fd, err := f.acquire()
	if err != nil {
		return 0, err
	}
	defer f.release()
	return fd.WriteAt(b, off)
}

// Sync makes everything written to the file durable.
func (f *File) Sync() error {
	fd, err := f.acquire()
	if err != nil {
		return err
	}
	defer f.release()
	return fd.Sync()
}

// Truncate cuts the file to size bytes.
func (f *File) Truncate(size int64) error {
	fd, err := f.acquire()
	if err != nil {
		return err
	}
	defer f.release()
	return fd.Truncate(size)
}

// Stat describes the file.
func (f *File) Stat() (os.FileInfo, error) {
	fd, err := f.acquire()
	if err != nil {
		return nil, err
	}
	defer f.release()
	return fd.Stat()
}

// Close releases the file's descriptor, if open; later calls fail.
func (f *File) Close() error {
	p := f.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.closed = true
	if f.fd == nil {
		return nil
	}
	// A call still using fd holds its own reference (users); Close comes
	// after the owner's last call, as on an *os.File.
	err := f.fd.Close()
	f.fd = nil
	p.lru.Remove(p.open[f])
	delete(p.open, f)
	return err
}

// Descriptors is the number of descriptors p holds open now.
func (p *Pool) Descriptors() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}
