package broker

import (
	"sync"
	"time"
)

// Sessions are bound to the certificate they were opened with: a session
// ends when its certificate expires, and when the fleet issues the
// device a newer certificate (renewal revokes the older ones in the
// store; Supersede ends the sessions still using them).

// superseded remembers, for a while after a renewal, which certificate is
// a device's current one. A connection whose handshake checked an older
// certificate just before the store revoked it can reach
// OnSessionEstablished after Supersede looked for sessions to end;
// watch, which runs after the session is registered, catches it here.
type superseded struct {
	mu    sync.Mutex
	m     map[string]currentCert // device id -> its newest certificate
	order []string               // device ids, oldest entry first, for pruning
}

type currentCert struct {
	serial string
	until  time.Time // entry kept until then
}

// Supersede ends every session of deviceID opened with a certificate
// other than serial, the one the fleet has just issued it (renewal or
// re-enrollment; the store revoked the others in the same transaction).
// It reports whether a session was ended.
func (b *Broker) Supersede(deviceID, serial string) bool {
	now := time.Now()
	// Long enough for any connection that passed its handshake before
	// the revocation to reach OnSessionEstablished or be closed by the
	// CONNECT deadline.
	keep := 2*b.cfg.HandshakeTimeout + time.Minute
	c := &b.current
	c.mu.Lock()
	for len(c.order) > 0 && c.m[c.order[0]].until.Before(now) {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	if _, ok := c.m[deviceID]; !ok {
		c.order = append(c.order, deviceID)
	}
	c.m[deviceID] = currentCert{serial: serial, until: now.Add(keep)}
	c.mu.Unlock()

	cl, ok := b.srv.Clients.Get(deviceID)
	if !ok {
		return false
	}
	s := b.session(cl)
	if s == nil || s.serial == serial {
		return false
	}
	b.endSession(s, "superseded", "certificate "+s.serial+" superseded by "+serial)
	return true
}

// outdated reports whether s uses a certificate older than its device's
// newest one, as far as Supersede was told recently.
func (b *Broker) outdated(s *session) (string, bool) {
	c := &b.current
	c.mu.Lock()
	cur, ok := c.m[s.id]
	c.mu.Unlock()
	return cur.serial, ok && cur.serial != s.serial && time.Now().Before(cur.until)
}

// watch binds a new session to its certificate: it ends it at once if the
// certificate was superseded meanwhile, else arms a timer for its expiry.
// It runs after the session is registered in b.sessions, so that with
// Supersede (which registers the new certificate, then looks for
// sessions) one of the two always sees the other.
func (b *Broker) watch(s *session) {
	if cur, old := b.outdated(s); old {
		b.endSession(s, "superseded", "certificate "+s.serial+" superseded by "+cur)
		return
	}
	if s.notAfter.IsZero() {
		return
	}
	// A timer, not a periodic sweep: the session ends at the second its
	// certificate does, and costs one runtime timer (about 100 bytes).
	// watch and unwatch run on the connection's goroutine (mochi calls
	// OnSessionEstablished, then reads, then OnDisconnect): s.expiry
	// needs no lock.
	s.expiry = time.AfterFunc(s.notAfter.Sub(b.cfg.Now()), func() {
		b.endSession(s, "expired", "certificate "+s.serial+" expired at "+s.notAfter.UTC().Format(time.RFC3339))
	})
}

// unwatch stops the expiry timer of a session that has ended.
func (s *session) unwatch() {
	if s.expiry != nil {
		s.expiry.Stop()
	}
}

// endSession drops s's connection for a reason of its credential, and
// audits it.
func (b *Broker) endSession(s *session, kind, reason string) {
	if b.session(s.cl) != s {
		return // already gone
	}
	b.drop(s.cl, reason)
	b.refused(s.id, "mqtt.session", kind, "session ended: "+reason)
}
