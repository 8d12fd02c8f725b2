package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
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
	id, address  string
	cfg          *tls.Config
	timeout      time.Duration // handshake, then CONNECT
	writeTimeout time.Duration // each write to a client (conn)
	perSource    int           // handshakes in progress from one IP address
	log          *slog.Logger
	// slots bounds the handshakes running at once (admission.go); nil:
	// no bound.
	slots *fairSem
	// slotBudget: a handshake holding a slot longer while another source
	// waits is closed (reclaim); 0: never.
	slotBudget time.Duration
	// verify is the handshake's certificate check for a connection from
	// src (Broker.admit): busy when it found no authentication slot, and
	// then passed the handshake without checking the store.
	verify func(cs tls.ConnectionState, src netip.Addr) (busy bool, err error)
	// onRefused counts a connection refused for load (metrics); may be nil.
	onRefused func(action string)
	stop      chan struct{} // closed by stopAccepting and Close: waits for a slot end

	mu      sync.Mutex
	ln      net.Listener
	closed  bool
	stopped bool                  // stopAccepting: no new connections, established ones kept
	shakes  map[net.Conn]struct{} // connections in their handshake
	slotted map[net.Conn]slotHold // those of them holding a handshake slot
	sources map[netip.Addr]int    // handshakes in progress per source address
	live    map[net.Conn]struct{} // handed to mochi, establish not yet returned
	wg      sync.WaitGroup        // handshake goroutines

	// closeClients, when set, replaces mochi's own callback at Close
	// (Broker.closeClients): mochi's Clients.GetByListener takes the
	// clients' read lock twice (through Len), so a connection arriving or
	// leaving between the two deadlocked the server's shutdown (seen in
	// tests under load: Close hung for 600 s).
	closeClients func(listenerID string)
}

var _ listeners.Listener = (*tlsListener)(nil)

func newTLSListener(id, address string, cfg *tls.Config, timeout time.Duration) *tlsListener {
	return &tlsListener{id: id, address: address, cfg: cfg, timeout: timeout, stop: make(chan struct{}), shakes: map[net.Conn]struct{}{}, slotted: map[net.Conn]slotHold{}, sources: map[netip.Addr]int{}, live: map[net.Conn]struct{}{}}
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
	if l.slots != nil && l.slotBudget > 0 {
		go l.reclaimLoop()
	}
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
		src := sourceOf(c)
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		if l.perSource > 0 && l.sources[src] >= l.perSource {
			// One address opening connections that never finish their
			// handshake would otherwise hold a goroutine and a
			// descriptor each for the whole handshake timeout.
			l.mu.Unlock()
			l.log.Debug("mqtt connection refused: too many handshakes from one address", "remote", src.String(), "limit", l.perSource)
			c.Close()
			l.refused("mqtt.accept.source")
			continue
		}
		l.shakes[c] = struct{}{}
		l.sources[src]++
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(c, src, establish)
	}
}

func sourceOf(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func (l *tlsListener) handshake(c net.Conn, src netip.Addr, establish listeners.EstablishFn) {
	defer l.wg.Done()
	tc, st := l.server(c, src)
	// A deadline rather than HandshakeContext, which would start one more
	// goroutine per connection to watch the context.
	started := time.Now() // before VerifyConnection reads the store
	c.SetDeadline(started.Add(l.timeout))
	err := tc.Handshake()
	if st.slot {
		l.mu.Lock()
		delete(l.slotted, c)
		l.mu.Unlock()
		l.slots.release(src)
	}
	if err != nil {
		l.log.Debug("mqtt tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
	}
	// The client must send CONNECT within the same bound; mochi replaces
	// this deadline with the keepalive once CONNECT is read.
	c.SetDeadline(time.Now().Add(l.timeout))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetLocked(c, src)
	if err != nil || l.closed || l.stopped {
		c.Close()
		return
	}
	// Registered before Close can run, so a connection handed over just
	// as the broker stops is closed by Close rather than left attached.
	l.live[c] = struct{}{}
	mc := &conn{Conn: tc, writeTimeout: l.writeTimeout, handshakeStart: started, busy: st.busy, admitted: !st.busy}
	go func() {
		if err := establish(l.id, mc); err != nil {
			l.log.Debug("mqtt connection ended", "err", err)
		}
		l.mu.Lock()
		delete(l.live, c)
		l.mu.Unlock()
	}()
}

// shakeState is what a connection's handshake found out (handshake).
type shakeState struct {
	slot bool // it holds a handshake slot, to give back when it ends
	busy bool // no authentication slot: not authenticated, CONNECT answered "server busy"
}

// errNoSlot ends a handshake that found no slot in time.
var errNoSlot = errors.New("broker: no handshake slot in time")

// server wraps c in a TLS server for this connection. The handshake slot
// (admission.go) is taken once the ClientHello has arrived
// (GetConfigForClient), so that neither a client slow to send it nor the
// wait for it holds a slot: the slot covers the server's crypto, one
// round trip and the certificate check. No slot within half the handshake
// timeout: the handshake fails before any crypto, and the connection is
// closed. The certificate check is l.verify with the connection's source.
func (l *tlsListener) server(c net.Conn, src netip.Addr) (*tls.Conn, *shakeState) {
	st := &shakeState{}
	if l.verify == nil && l.slots == nil {
		return tls.Server(c, l.cfg), st
	}
	cfg := l.cfg.Clone()
	if l.verify != nil {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			b, err := l.verify(cs, src)
			st.busy = b
			return err
		}
	}
	if l.slots == nil {
		return tls.Server(c, cfg), st
	}
	outer := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if !l.slots.acquire(src, l.timeout/2, l.stop) {
			l.refused("mqtt.handshake.busy")
			return nil, errNoSlot
		}
		st.slot = true
		l.mu.Lock()
		l.slotted[c] = slotHold{src: src, since: time.Now()}
		l.mu.Unlock()
		return cfg, nil
	}}
	return tls.Server(c, outer), st
}

// forgetLocked ends the accounting of a connection's handshake.
func (l *tlsListener) forgetLocked(c net.Conn, src netip.Addr) {
	delete(l.shakes, c)
	if l.sources[src]--; l.sources[src] <= 0 {
		delete(l.sources, src)
	}
}

func (l *tlsListener) refused(action string) {
	if l.onRefused != nil {
		l.onRefused(action)
	}
}

// endWaits ends every wait for a handshake slot (once).
func (l *tlsListener) endWaits() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
}

func (l *tlsListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// stopAccepting stops accepting connections and abandons handshakes in
// progress; established connections keep running (Broker.Drain).
func (l *tlsListener) stopAccepting() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.endWaits()
	if l.ln != nil {
		l.ln.Close()
	}
	for c := range l.shakes {
		c.Close()
	}
}

// Close stops accepting, abandons handshakes in progress, then lets mochi
// close the established clients.
func (l *tlsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	l.endWaits()
	if l.ln != nil {
		l.ln.Close()
	}
	for c := range l.shakes {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	if first {
		if l.closeClients != nil {
			l.closeClients(l.id)
		} else {
			closeClients(l.id)
		}
	}
	// Connections mochi had not attached yet when it closed its clients.
	l.mu.Lock()
	for c := range l.live {
		c.Close()
	}
	l.mu.Unlock()
}

// conn is the connection mochi reads and writes: the TLS connection with a
// deadline on every write. mochi sets no write deadline of its own (only
// the keepalive deadline, which every packet the client sends pushes
// back), so a client that keeps sending but stops reading held its
// writer, and up to Capabilities.MaximumClientWritesPending queued
// messages, for as long as it liked (SetDeadline). A write that times out closes the
// connection: after a timeout a TLS connection cannot be written again,
// and the read loop then ends the session.
type conn struct {
	*tls.Conn
	writeTimeout   time.Duration
	handshakeStart time.Time // when the TLS handshake began (credentials.go)
	// admitted: the handshake checked the certificate against the store;
	// busy: it found no authentication slot and checked nothing, so the
	// CONNECT is answered "server busy" (hook.OnConnect). peerCert
	// trusts the certificate of an admitted connection only.
	admitted, busy bool
}

// SetDeadline is mochi's keepalive deadline, refreshed before each packet
// it reads: it applies to reads only, or each packet read would push back
// the deadline of a write blocked on a client that stopped reading.
func (c *conn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

func (c *conn) Write(p []byte) (int, error) {
	var deadline time.Time // none; also clears the listener's CONNECT deadline
	if c.writeTimeout > 0 {
		deadline = time.Now().Add(c.writeTimeout)
	}
	c.Conn.SetWriteDeadline(deadline)
	n, err := c.Conn.Write(p)
	if err != nil {
		c.Conn.NetConn().Close() // not Close: its close_notify would write again
	}
	return n, err
}
