package broker

import (
	"net"
	"net/netip"
	"slices"
	"time"
)

// slotHold is a handshake holding a slot: its source and since when.
type slotHold struct {
	src   netip.Addr
	since time.Time
}

// reclaimLoop reclaims over-budget handshake slots (reclaim) every half
// budget until the listener stops: a waiter gets a stalled peer's slot
// within one and a half budgets, well inside its own wait (half the
// handshake timeout).
func (l *tlsListener) reclaimLoop() {
	tick := time.NewTicker(max(l.slotBudget/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-tick.C:
			l.reclaim(now)
		}
	}
}

// reclaim closes the handshakes that have held their slot longer than
// the budget while a connection of another source waits for one, oldest
// first and no more than such waiters, and counts each
// (mqtt.handshake.reclaimed). Closing the connection ends its handshake,
// which gives the slot back (handshake), and the fair semaphore hands it
// to the waiting sources in turn. A handshake whose own source alone
// waits keeps its slot: the devices behind one address are not cut off in
// favour of each other (admission.go).
func (l *tlsListener) reclaim(now time.Time) {
	type hold struct {
		c net.Conn
		slotHold
	}
	l.mu.Lock()
	var over []hold
	for c, h := range l.slotted {
		if now.Sub(h.since) > l.slotBudget {
			over = append(over, hold{c, h})
		}
	}
	slices.SortFunc(over, func(a, b hold) int { return a.since.Compare(b.since) })
	closed := 0
	others := map[netip.Addr]int{} // waitersBesides by source, read once each
	for _, h := range over {
		w, ok := others[h.src]
		if !ok {
			w = l.slots.waitersBesides(h.src)
			others[h.src] = w
		}
		if w <= closed {
			continue
		}
		delete(l.slotted, h.c)
		h.c.Close()
		closed++
		l.log.Debug("mqtt handshake closed: held its slot past the budget while another source waited", "remote", h.src.String(), "budget", l.slotBudget)
	}
	l.mu.Unlock()
	for range closed {
		l.refused("mqtt.handshake.reclaimed")
	}
}
