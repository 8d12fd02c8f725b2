package netlimit

import (
	"net"
	"sync"
)

// Listener caps the connections open at once from each source and in all.
// A connection over either cap is closed as soon as it is accepted, before
// a byte of it is read (so before any TLS handshake): the descriptors and
// goroutines a source can hold are bounded by the caps, not by its patience.
type Listener struct {
	net.Listener
	perSource, total int
	onRefuse         func(Source)

	mu   sync.Mutex
	open map[Source]int
	n    int
}

// Listen wraps l. onRefuse, when not nil, is called (outside any lock) for
// each refused connection.
func Listen(l net.Listener, perSource, total int, onRefuse func(Source)) *Listener {
	return &Listener{Listener: l, perSource: perSource, total: total, onRefuse: onRefuse, open: map[Source]int{}}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := SourceOfAddr(c.RemoteAddr())
		if l.admit(src) {
			return &conn{Conn: c, l: l, src: src}, nil
		}
		c.Close()
		if l.onRefuse != nil {
			l.onRefuse(src)
		}
	}
}

func (l *Listener) admit(src Source) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= l.total || l.open[src] >= l.perSource {
		return false
	}
	l.n++
	l.open[src]++
	return true
}

func (l *Listener) release(src Source) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.open[src]--; l.open[src] <= 0 {
		delete(l.open, src)
	}
}

// Open returns the connections open now, in all and from src.
func (l *Listener) Open(src Source) (total, fromSource int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.open[src]
}

type conn struct {
	net.Conn
	l    *Listener
	src  Source
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
