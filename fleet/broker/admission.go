package broker

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Admission control for a connection storm (docs/fleet-server.md,
// "Connection storms"). When a node restarts under thousands of devices,
// they all reconnect at once. Unbounded, every TLS handshake and every
// authentication ran at once: the cores were shared among thousands of
// handshakes, each one slowed past its timeout, and the store reads of
// the authentications queued on the store's pool until they timed out
// too, so hardly any device got through and the health checks, queued
// behind them, failed (the 10,000-device CA rotation bench, stop 28).
// Two bounds keep the node's work at a rate it can finish:
//
//   - handshake slots (Config.MaxHandshakes): a TLS handshake starts only
//     with a slot; an accepted connection waits for one (no CPU spent on
//     it meanwhile), and is closed if none comes in time, which costs the
//     node an accept and a close;
//   - authentication slots (Config.MaxAuthentications, sized below the
//     store's pool so that other store users, /readyz among them, always
//     find a connection): the certificate's store reads run only with a
//     slot; a connection that gets none within Config.AuthWait finishes
//     its handshake unauthenticated and is answered CONNACK "server
//     busy" (MQTT 5 0x89, 3.1.1 0x03), with no store read.
//
// Both are fairSems: a slot freed goes to the sources with waiters in
// turn, and one source holds at most half the slots, so one address
// opening thousands of connections delays the others by at most its turn.
//
// A handshake slot is also reclaimed (tlsListener.reclaim): a client that
// sends its ClientHello and then stalls would hold its slot until the
// handshake timeout, and two addresses doing so on every slot they could
// get held them all. Past Config.HandshakeSlotBudget, while another source
// waits, the connection is closed and its slot freed. Only when another
// source waits: the devices of one address (a NAT, or the simulator's
// 10,000 on loopback), slow to answer in a storm, are never cut off in
// favour of each other.

// fairSem is a counting semaphore whose waiters are served round-robin by
// source address, with a cap on the slots one source holds at once.
type fairSem struct {
	mu        sync.Mutex
	free      int
	perSource int
	held      map[netip.Addr]int
	waiting   map[netip.Addr]*list.List // of chan struct{}, oldest first
	turns     *list.List                // of netip.Addr: sources with waiters, next first
	turn      map[netip.Addr]*list.Element
}

// newFairSem returns a semaphore of n slots, at most perSource of them
// held by one source.
func newFairSem(n, perSource int) *fairSem {
	return &fairSem{free: max(n, 1), perSource: max(perSource, 1), held: map[netip.Addr]int{},
		waiting: map[netip.Addr]*list.List{}, turns: list.New(), turn: map[netip.Addr]*list.Element{}}
}

// acquire takes a slot for src, waiting at most wait (and not past stop
// closing); it reports whether it got one, to be given back by release.
func (s *fairSem) acquire(src netip.Addr, wait time.Duration, stop <-chan struct{}) bool {
	s.mu.Lock()
	if s.free > 0 && s.held[src] < s.perSource && s.waiting[src] == nil {
		s.free--
		s.held[src]++
		s.mu.Unlock()
		return true
	}
	if wait <= 0 {
		s.mu.Unlock()
		return false
	}
	ch := make(chan struct{}, 1) // granted under s.mu, never blocks the granter
	q := s.waiting[src]
	if q == nil {
		q = list.New()
		s.waiting[src] = q
		s.turn[src] = s.turns.PushBack(src)
	}
	e := q.PushBack(ch)
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-stop:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch: // granted as the wait ended: ours now, give it back
		s.releaseLocked(src)
		return false
	default:
	}
	q.Remove(e)
	if q.Len() == 0 {
		s.dropSource(src)
	}
	return false
}

// release gives back a slot acquire granted to src.
func (s *fairSem) release(src netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(src)
}

func (s *fairSem) releaseLocked(src netip.Addr) {
	if s.held[src]--; s.held[src] <= 0 {
		delete(s.held, src)
	}
	s.free++
	s.grant()
}

// grant hands free slots to waiters, one source after the other: the
// source served goes to the back of the turns. Only sources at their cap
// are skipped, and at most 1/perSource-th of the slots' worth of sources
// can be, so the scan is short.
func (s *fairSem) grant() {
	for s.free > 0 {
		e := s.turns.Front()
		for e != nil && s.held[e.Value.(netip.Addr)] >= s.perSource {
			e = e.Next()
		}
		if e == nil {
			return
		}
		src := e.Value.(netip.Addr)
		q := s.waiting[src]
		ch := q.Remove(q.Front()).(chan struct{})
		s.free--
		s.held[src]++
		ch <- struct{}{}
		if q.Len() == 0 {
			s.dropSource(src)
		} else {
			s.turns.MoveToBack(e)
		}
	}
}

func (s *fairSem) dropSource(src netip.Addr) {
	s.turns.Remove(s.turn[src])
	delete(s.turn, src)
	delete(s.waiting, src)
}

// waitersBesides returns how many acquires from sources other than src
// are waiting.
func (s *fairSem) waitersBesides(src netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for a, q := range s.waiting {
		if a != src {
			n += q.Len()
		}
	}
	return n
}

// inUse returns the slots held (tests).
func (s *fairSem) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.held {
		n += h
	}
	return n
}

// refusedForLoad counts a connection refused by admission control (no
// audit entry: it is the node's load, not the device, and an audit write
// per refusal would add store writes to a storm). Actions:
// mqtt.busy (CONNACK server busy), mqtt.handshake.busy (closed before its
// handshake, no slot in time), mqtt.handshake.reclaimed (closed holding a
// slot past its budget while another source waited), mqtt.accept.source
// (closed at accept, its source over max_handshakes_per_source).
func (b *Broker) refusedForLoad(action string) {
	b.busy.Add(1)
	if b.cfg.OnDeny != nil {
		b.cfg.OnDeny(action)
	}
}

// Busy returns how many connections admission control has refused since
// the broker started.
func (b *Broker) Busy() int64 { return b.busy.Load() }

// refuseBusy answers the CONNECT of a connection that found no
// authentication slot: MQTT 5 CONNACK 0x89 server busy, 3.1.1 0x03 server
// unavailable. Its certificate was not checked against the store, so
// nothing else of the connection is looked at.
func (b *Broker) refuseBusy(cl *mqtt.Client) error {
	code := packets.ErrServerBusy
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.ErrServerUnavailable // sent as 3.1.1's 0x03 (mochi's V5CodesToV3)
	}
	b.refusedForLoad("mqtt.busy")
	if err := b.srv.SendConnack(cl, code, false, nil); err != nil {
		b.cfg.Log.Debug("connack not sent", "err", err)
	}
	return code
}
