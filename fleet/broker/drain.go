package broker

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Draining a node for a rolling upgrade (docs/fleet-server.md, "Draining").
//
// Drain stops accepting connections, stops acknowledging new QoS 1
// telemetry (a message read after the drain began is dropped without an
// acknowledgement: the device still holds it and sends it to the node it
// moves to), waits until every message already queued has been committed
// and its PUBACK written, and then ends every session: an MQTT 5 session
// with DISCONNECT 0x9C "use another server", naming another node in its
// Server Reference when one is known; an MQTT 3.1.1 session, which has no
// server DISCONNECT, by closing its connection. A device that connects
// while the drain runs (its handshake began before) is answered CONNACK
// 0x9C (3.1.1: 0x03 server unavailable). Nothing acknowledged is lost:
// acknowledged means committed, and every commit the broker waited for
// completes before the connection closes.

// drainPoll is how often Drain looks at the acknowledgements still owed.
const drainPoll = 5 * time.Millisecond

// Draining reports whether Drain has begun.
func (b *Broker) Draining() bool { return b.draining.Load() }

// Drain ends every session as described above. references lists the MQTT
// endpoints (host:port) of other nodes; each MQTT 5 session is referred to
// one of them at random, spreading the devices (none: no Server
// Reference). It returns when every session has ended, or with ctx's error
// when ctx ends first (the sessions are then closed anyway, their
// outstanding acknowledgements dropped: those messages were not
// acknowledged, and the devices send them again). The broker keeps
// running for the server's own clients until Close.
func (b *Broker) Drain(ctx context.Context, references []string) error {
	b.refs.Store(&references)
	if !b.draining.CompareAndSwap(false, true) {
		return b.waitSessions(ctx)
	}
	if b.lis != nil {
		b.lis.stopAccepting()
	}
	b.cfg.Log.Info("draining: no new connections; finishing acknowledgements", "sessions", b.connected.Load())
	var err error
	for b.owed() > 0 {
		if err = sleepCtx(ctx, drainPoll); err != nil {
			b.cfg.Log.Warn("draining: acknowledgements still owed when the deadline came", "messages", b.owed())
			break
		}
	}
	n := 0
	b.sessions.Range(func(_, v any) bool {
		b.moveAway(v.(*session))
		n++
		return true
	})
	b.cfg.Log.Info("draining: sessions told to use another server", "sessions", n)
	if err != nil {
		return err
	}
	return b.waitSessions(ctx)
}

// owed is the number of QoS 1 telemetry messages queued or being
// acknowledged on every session.
func (b *Broker) owed() int {
	n := 0
	b.sessions.Range(func(_, v any) bool {
		s := v.(*session)
		s.mu.Lock()
		if !s.dead {
			n += s.n + s.writing
		}
		s.mu.Unlock()
		return true
	})
	return n
}

// waitSessions waits until no device session remains, counting the
// connections mochi has answered CONNACK but not yet handed to
// OnSessionEstablished: under load that gap lasts milliseconds, and a
// drain that ended in it left the device to the server's close (DISCONNECT
// 0x8B) instead of the hook's move away (0x9C with a Server Reference).
func (b *Broker) waitSessions(ctx context.Context) error {
	for b.connected.Load() > 0 || atomic.LoadInt64(&b.srv.Info.ClientsConnected) > 0 {
		if err := sleepCtx(ctx, drainPoll); err != nil {
			return err
		}
	}
	return nil
}

// reference picks the Server Reference for one session: one of the other
// nodes' endpoints, at random; "" when none is known.
func (b *Broker) reference() string {
	p := b.refs.Load()
	if p == nil {
		return ""
	}
	var refs []string
	for _, r := range *p {
		if r = strings.TrimSpace(r); r != "" && r != b.Addr() {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return ""
	}
	return refs[rand.IntN(len(refs))]
}

// moveAway ends a session for the drain: DISCONNECT 0x9C with a Server
// Reference (MQTT 5), or the connection closed (3.1.1).
func (b *Broker) moveAway(s *session) {
	if !s.movedAway.CompareAndSwap(false, true) {
		return
	}
	if !s.v5 {
		s.cl.Stop(packets.ErrServerShuttingDown)
		return
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: packets.ErrUseAnotherServer.Code,
		Properties: packets.Properties{ReasonString: packets.ErrUseAnotherServer.Reason, ServerReference: b.reference()}}
	if err := s.cl.WritePacket(pk); err != nil {
		b.cfg.Log.Debug("disconnect not sent", "device", s.id, "err", err)
	}
	s.cl.Stop(packets.ErrUseAnotherServer)
}

// refuseDraining answers the CONNECT of a connection that was accepted
// before the drain began: CONNACK 0x9C with a Server Reference (MQTT 5),
// 0x03 server unavailable (3.1.1).
func (b *Broker) refuseDraining(cl *mqtt.Client) error {
	code := packets.ErrUseAnotherServer
	props := &packets.Properties{ReceiveMaximum: uint16(b.window)}
	if cl.Properties.ProtocolVersion == 5 {
		props.ServerReference = b.reference()
	} else {
		code = packets.ErrServerUnavailable // sent as 3.1.1's 0x03
	}
	if err := b.srv.SendConnack(cl, code, false, props); err != nil {
		b.cfg.Log.Debug("connack not sent", "device", cl.ID, "err", err)
	}
	return code
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
