package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tlsListener is mochi's TCP listener with the TLS handshake moved off the
// connection's long-lived read goroutine. mochi's own listener hands mochi
// a tls.Conn whose handshake runs lazily inside the first Read, on the
// goroutine that then reads the client for its whole life; the handshake
// (certificate parsing and verification, ECDHE, the VerifyConnection store
// look-ups) grows that goroutine's stack to tens of KB, which the runtime
// gives back only over later GCs. Here a short-lived goroutine accepts,
// handshakes under a deadline and exits; mochi's read loop starts on a
// fresh goroutine with a small stack.
//
// Refusals are unchanged: the handshake calls the same VerifyConnection,
// which audits them.
type tlsListener struct {
	id, address string
	cfg         *tls.Config
	timeout     time.Duration
	log         *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	closed bool
	shakes map[net.Conn]struct{} // connections in their handshake
	live   map[net.Conn]struct{} // handed to mochi, establish not yet returned
	wg     sync.WaitGroup        // handshake goroutines
}

var _ listeners.Listener = (*tlsListener)(nil)

func newTLSListener(id, address string, cfg *tls.Config, timeout time.Duration) *tlsListener {
	return &tlsListener{id: id, address: address, cfg: cfg, timeout: timeout, shakes: map[net.Conn]struct{}{}, live: map[net.Conn]struct{}{}}
}

func (l *tlsListener) ID() string       { return l.id }
func (l *tlsListener) Protocol() string { return "tcp" }

func (l *tlsListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *tlsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.ln, l.log = ln, log
	l.mu.Unlock()
	return nil
}

// Serve accepts until Close.
func (l *tlsListener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, rather than stop serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("mqtt accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.shakes[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(c, establish)
	}
}

func (l *tlsListener) handshake(c net.Conn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	tc := tls.Server(c, l.cfg)
	// A deadline rather than HandshakeContext, which would start one more
	// goroutine per connection to watch the context.
	c.SetDeadline(time.Now().Add(l.timeout))
	err := tc.Handshake()
	if err != nil {
		l.log.Debug("mqtt tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
	}
	// The client must send CONNECT within the same bound; mochi replaces
	// this deadline with the keepalive once CONNECT is read.
	c.SetDeadline(time.Now().Add(l.timeout))
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.shakes, c)
	if err != nil || l.closed {
		c.Close()
		return
	}
	// Registered before Close can run, so a connection handed over just
	// as the broker stops is closed by Close rather than left attached.
	l.live[c] = struct{}{}
	go func() {
		if err := establish(l.id, tc); err != nil {
			l.log.Debug("mqtt connection ended", "err", err)
		}
		l.mu.Lock()
		delete(l.live, c)
		l.mu.Unlock()
	}()
}

func (l *tlsListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops accepting, abandons handshakes in progress, then lets mochi
// close the established clients.
func (l *tlsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	if l.ln != nil {
		l.ln.Close()
	}
	for c := range l.shakes {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	if first {
		closeClients(l.id)
	}
	// Connections mochi had not attached yet when it closed its clients.
	l.mu.Lock()
	for c := range l.live {
		c.Close()
	}
	l.mu.Unlock()
}
