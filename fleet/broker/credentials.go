package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"rampart/fleet/store"
)

// Sessions are bound to the certificate they were opened with: a session
// ends when its certificate expires, when the fleet issues the device a
// newer certificate (renewal revokes the older ones in the store;
// Supersede ends the sessions still using them), and when the fleet stops
// accepting the device (suspension, decommissioning: Disconnect).

// recent remembers, for a while, what the fleet changed about a device's
// credentials: its newest certificate after a renewal (Supersede) and when
// it was last dropped (Disconnect). A connection whose handshake checked
// the store just before the change can reach OnSessionEstablished after
// Supersede or Disconnect looked for sessions to end (mochi registers the
// client after CONNECT, and Disconnect finds only registered clients);
// watch, which runs after the session is registered, catches it here.
type recent struct {
	mu    sync.Mutex
	m     map[string]credChange // device id -> what changed
	order []string              // device ids, oldest entry first, for pruning
}

type credChange struct {
	serial  string    // the newest certificate ("" when not renewed)
	dropped time.Time // when Disconnect dropped the device (zero if not)
	reason  string    // why it was dropped
	until   time.Time // entry kept until then
}

// note records a change for deviceID and prunes expired entries. Entries
// live long enough for any connection that passed its handshake before
// the change to reach OnSessionEstablished or be closed by the CONNECT
// deadline: twice the handshake timeout, plus a minute.
func (b *Broker) note(deviceID string, change func(*credChange)) {
	now := time.Now()
	c := &b.recent
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && c.m[c.order[0]].until.Before(now) {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	e, ok := c.m[deviceID]
	if !ok {
		c.order = append(c.order, deviceID)
	}
	change(&e)
	e.until = now.Add(2*b.cfg.HandshakeTimeout + time.Minute)
	c.m[deviceID] = e
}

// changed returns what the fleet changed recently about s's device.
func (b *Broker) changed(s *session) (credChange, bool) {
	c := &b.recent
	c.mu.Lock()
	e, ok := c.m[s.id]
	c.mu.Unlock()
	return e, ok && time.Now().Before(e.until)
}

// Supersede ends every session of deviceID opened with a certificate
// other than serial, the one the fleet has just issued it (renewal or
// re-enrollment; the store revoked the others in the same transaction).
// It reports whether a session was ended.
func (b *Broker) Supersede(deviceID, serial string) bool {
	b.note(deviceID, func(e *credChange) { e.serial = serial })
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

// SupersedeAfter is Supersede for a re-enrollment the fleet asked for (a
// CA rotation's): a new connection with an earlier certificate is refused
// at once, as by Supersede, but the session already open with one lives
// on until the device opens its session with the new certificate (which
// takes over its client identifier and ends the old one) or grace passes.
// Ended at once, the device was offline from its re-enrollment's commit
// until its answer travelled back and it reconnected: seconds on a loaded
// node, longer than its reconnect backoff. grace <= 0 is Supersede.
func (b *Broker) SupersedeAfter(deviceID, serial string, grace time.Duration) bool {
	if grace <= 0 {
		return b.Supersede(deviceID, serial)
	}
	b.note(deviceID, func(e *credChange) { e.serial = serial })
	cl, ok := b.srv.Clients.Get(deviceID)
	if !ok {
		return false
	}
	s := b.session(cl)
	if s == nil || s.serial == serial {
		return false
	}
	// endSession does nothing once the session is gone (taken over).
	time.AfterFunc(grace, func() {
		b.endSession(s, "superseded", "certificate "+s.serial+" superseded by "+serial+" (after a grace of "+grace.String()+")")
	})
	return true
}

// stale reports why s must end at once: its certificate was superseded,
// or its device was dropped (Disconnect) after its TLS handshake began,
// so that the handshake's store check may have missed the change.
func (b *Broker) stale(s *session) (kind, reason string, ok bool) {
	e, ok := b.changed(s)
	switch {
	case !ok:
		return "", "", false
	case e.serial != "" && e.serial != s.serial:
		return "superseded", "certificate " + s.serial + " superseded by " + e.serial, true
	case !e.dropped.IsZero() && !e.dropped.Before(s.checked):
		return "device-state", "device dropped by the fleet (" + e.reason + ") while its connection was being checked", true
	}
	return "", "", false
}

// watch binds a new session to its credentials: it ends it at once if
// its certificate was superseded or its device dropped meanwhile (stale),
// else arms a timer for the certificate's expiry. It runs after mochi
// registered the client and the session is in b.sessions, so that with
// Supersede and Disconnect (which record the change, then look for the
// client) one of the two always sees the other.
// It reports whether the session lives on.
func (b *Broker) watch(s *session) bool {
	if kind, reason, ok := b.stale(s); ok {
		b.endSession(s, kind, reason)
		return false
	}
	if s.notAfter.IsZero() {
		return true
	}
	// A timer, not a periodic sweep: the session ends at the second its
	// certificate does, and costs one runtime timer (about 100 bytes).
	// watch and unwatch run on the connection's goroutine (mochi calls
	// OnSessionEstablished, then reads, then OnDisconnect): s.expiry
	// needs no lock.
	s.expiry = time.AfterFunc(s.notAfter.Sub(b.cfg.Now()), func() {
		b.endSession(s, "expired", "certificate "+s.serial+" expired at "+s.notAfter.UTC().Format(time.RFC3339))
	})
	return true
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

// Recheck checks every session against the store as its TLS handshake
// was (certificate on record and not revoked, device active) and ends
// those that no longer pass. A node of a cluster calls it after it was cut
// off from the other nodes (NATS reconnected): a disconnect asked on
// another node meanwhile did not reach it. It returns how many sessions it
// ended; a store error leaves the session alone (it is rechecked next time).
func (b *Broker) Recheck(ctx context.Context) (int, error) {
	var list []*session
	b.sessions.Range(func(_, v any) bool {
		list = append(list, v.(*session))
		return true
	})
	ended := 0
	var errs []error
	for _, s := range list {
		if ctx.Err() != nil {
			return ended, ctx.Err()
		}
		kind, reason, err := b.recheck(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if kind != "" {
			b.endSession(s, kind, reason)
			ended++
		}
	}
	return ended, errors.Join(errs...)
}

func (b *Broker) recheck(ctx context.Context, s *session) (kind, reason string, err error) {
	if s.serial == "" {
		return "", "", nil
	}
	rec, err := b.cfg.Store.Certificate(ctx, s.serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "not-on-record", "certificate " + s.serial + " is no longer on record", nil
	case err != nil:
		return "", "", err
	case !rec.Revoked.IsZero():
		return "revoked", "certificate " + s.serial + " revoked at " + rec.Revoked.UTC().Format(time.RFC3339), nil
	}
	d, err := b.cfg.Store.Device(ctx, s.id)
	if err != nil {
		return "", "", err
	}
	if d.State != store.Active {
		return "device-state", "device is " + string(d.State) + " " + d.Reason, nil
	}
	return "", "", nil
}
