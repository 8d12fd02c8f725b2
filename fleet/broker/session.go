package broker

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
)

// session is the broker's state for one authenticated connection: the
// device identity, fixed at CONNECT (so the ACL never re-reads the TLS
// state), and the QoS 1 telemetry messages received but not yet
// acknowledged.
//
// Acknowledgement after commit, off the read loop: OnPublish queues a
// message's samples to the Sink without waiting and records its packet id
// here; the Sink's completion marks it settled, and a short-lived flusher
// goroutine writes the PUBACKs of the settled prefix of the queue, so
// acknowledgements leave in the order the PUBLISHes arrived
// [MQTT-4.6.0-2] however the completions interleave. The read loop blocks
// only when the connection has window messages unacknowledged
// (backpressure).
type session struct {
	b                                      *Broker
	movedAway                              atomic.Bool // told to use another server (drain.go), once
	cl                                     *mqtt.Client
	id                                     string // the certificate's common name, equal to the client identifier
	v5                                     bool
	telemTopic, statusTopic, progressTopic string

	// The certificate the connection was opened with, and when its TLS
	// handshake (which checked it against the store) began
	// (credentials.go).
	serial   string
	notAfter time.Time
	checked  time.Time
	expiry   *time.Timer
	// started is when the session was established; up, whether OnSession
	// was told (then it is told of the end too).
	started time.Time
	up      bool

	// packets read, on the read path only (quota.go): with the patched
	// mochi one pooled worker at a time, handed over through channels, so
	// "the read goroutine" below means this sequence of packets.
	rate rate

	mu       sync.Mutex
	ring     []ackEntry // window entries, allocated at the first QoS 1 telemetry message
	head, n  int        // oldest entry, entries queued
	writing  int        // entries taken by the flusher, not yet written: still in flight
	flushing bool       // a flusher goroutine is running
	dead     bool       // acknowledgements stopped: connection gone or 3.1.1 refused
	wake     chan struct{}
	gen      uint64 // sequence number of ring[head]
}

type ackEntry struct {
	packetID uint16
	settled  bool
	code     byte  // 0 success, else an MQTT 5 reason code
	err      error // storage failure (3.1.1: disconnect)
	noAck    bool  // 3.1.1 malformed payload: no acknowledgement at all
}

func newSession(b *Broker, cl *mqtt.Client, id string) *session {
	return &session{b: b, cl: cl, id: id, v5: cl.Properties.ProtocolVersion == 5,
		telemTopic: deviceproto.TelemetryTopic(id), statusTopic: deviceproto.StatusTopic(id), progressTopic: deviceproto.ProgressTopic(id),
		rate: newRate(b.cfg.MessageRate)}
}

// refuseInTurn answers an MQTT 5 QoS 1 PUBLISH with a failure reason
// code, in its turn among the acknowledgements still waiting for their
// commit [MQTT-4.6.0-2].
func (s *session) refuseInTurn(packetID uint16, code byte) {
	s.mu.Lock()
	idle := s.n+s.writing == 0
	s.mu.Unlock()
	if idle {
		// Nothing waits before it: answer now, on the read loop, so the
		// answer also precedes whatever mochi answers next. Only this
		// goroutine enqueues, so nothing can get ahead of it meanwhile.
		var buf bytes.Buffer
		s.encodeError(&buf, packetID, code)
		s.write(buf.Bytes())
		return
	}
	if seq, ok := s.enqueue(packetID); ok {
		s.settle(seq, ackEntry{code: code})
	}
}

// enqueue waits for room in the window, then records packetID as the
// newest unacknowledged message and returns its sequence number. It
// reports false when acknowledgements have stopped (the connection is
// going away): the message is then dropped unacknowledged.
func (s *session) enqueue(packetID uint16) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		s.ring = make([]ackEntry, s.b.window)
		s.wake = make(chan struct{}, 1)
	}
	for s.n+s.writing >= len(s.ring) && !s.dead {
		// Only this connection's read goroutine enqueues, so one
		// buffered wake-up suffices.
		s.mu.Unlock()
		<-s.wake
		s.mu.Lock()
	}
	if s.dead {
		return 0, false
	}
	seq := s.gen + uint64(s.n)
	s.ring[(s.head+s.n)%len(s.ring)] = ackEntry{packetID: packetID}
	s.n++
	return seq, true
}

// settle records the outcome of message seq and starts a flusher when
// the oldest message is settled. It never blocks (it runs on the Sink's
// goroutine).
func (s *session) settle(seq uint64, e ackEntry) {
	s.mu.Lock()
	i := int(seq - s.gen)
	if i < 0 || i >= s.n {
		s.mu.Unlock()
		return // cannot happen: each entry is settled once
	}
	e.settled = true
	e.packetID = s.ring[(s.head+i)%len(s.ring)].packetID
	s.ring[(s.head+i)%len(s.ring)] = e
	start := !s.flushing && s.ring[s.head].settled
	if start {
		s.flushing = true
	}
	s.mu.Unlock()
	if start {
		go s.flush()
	}
}

// flush writes the acknowledgements of the settled prefix, oldest first,
// until the oldest queued message is unsettled.
func (s *session) flush() {
	var buf bytes.Buffer
	for {
		buf.Reset()
		s.mu.Lock()
		k := 0
		var fail error
		dead := s.dead
		for k < s.n {
			e := &s.ring[(s.head+k)%len(s.ring)]
			if !e.settled {
				break
			}
			k++
			switch {
			case dead || e.noAck:
			case e.err != nil && !s.v5:
				fail, dead = e.err, true // 3.1.1 has no negative acknowledgement
			case e.code != 0:
				s.encodeError(&buf, e.packetID, e.code)
			default:
				buf.Write([]byte{packets.Puback << 4, 2, byte(e.packetID >> 8), byte(e.packetID)})
			}
		}
		if k == 0 {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		s.head = (s.head + k) % len(s.ring)
		s.n -= k
		s.gen += uint64(k)
		s.writing += k
		s.dead = dead
		s.mu.Unlock()

		if buf.Len() > 0 && !s.write(buf.Bytes()) {
			s.mu.Lock()
			s.dead = true
			s.mu.Unlock()
		}
		if fail != nil {
			s.b.cfg.Log.Info("telemetry not stored: disconnecting the MQTT 3.1.1 client, which has no negative acknowledgement", "device", s.id, "err", fail)
			s.cl.Stop(packets.ErrUnspecifiedError)
		}
		s.mu.Lock()
		s.writing -= k
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// write sends encoded acknowledgements as one TLS record. mochi's own
// Client.WritePacket writes each packet under the client's mutex, so
// holding that mutex keeps packets whole on the wire; it would cost one
// TLS record and one system call per PUBACK instead of per batch.
func (s *session) write(p []byte) bool {
	if s.cl.Closed() {
		return false
	}
	s.cl.Lock()
	_, err := s.cl.Net.Conn.Write(p)
	s.cl.Unlock()
	return err == nil
}

// ackReasons are the failure reason codes the session writes, with the
// reason strings it gives them.
var ackReasons = []packets.Code{packets.ErrPayloadFormatInvalid, packets.ErrUnspecifiedError, packets.ErrImplementationSpecificError,
	packets.ErrNotAuthorized, packets.ErrQuotaExceeded}

// encodeError appends an MQTT 5 PUBACK with a failure reason code (and
// its reason string unless the client asked for no problem information).
func (s *session) encodeError(buf *bytes.Buffer, packetID uint16, code byte) {
	c := packets.Code{Code: code}
	for _, k := range ackReasons {
		if k.Code == code {
			c = k
		}
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: packetID, ReasonCode: code}
	p := s.cl.Properties.Props
	if p.RequestProblemInfoFlag && p.RequestProblemInfo == 0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29]
	} else {
		pk.Properties.ReasonString = c.Reason
	}
	pk.PubackEncode(buf)
}
