package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/internal/burst"
	"rampart/fleet/store"
	"rampart/internal/tlsconf"
)

// Sink stores telemetry payloads. The broker acknowledges a QoS 1 or 2
// publish only after done(nil).
type Sink interface {
	// Submit parses payload and queues its samples without waiting for
	// them to be stored. It refuses a malformed payload with an error and
	// then never calls done. Otherwise it calls done exactly once: with
	// nil only once the samples are durable, else with the storage error.
	// done may run before Submit returns and must not block.
	Submit(deviceID string, payload []byte, done func(error)) error
}

// Config configures a Broker.
type Config struct {
	Address string // e.g. 127.0.0.1:8883
	CA      *ca.CA
	Store   *store.DB
	// Certificate is the broker's TLS server certificate.
	Certificate tls.Certificate
	Sink        Sink             // may be nil: telemetry is then refused
	Now         func() time.Time // time.Now when nil
	Log         *slog.Logger
	// OnDeny is called for each refused connection or topic (metrics).
	OnDeny func(action string)
	// BufferSize is the per-connection read and write buffer (default
	// 512 bytes: telemetry messages are small, larger packets are read
	// straight through; 2 KiB cost 1.5 KB more live heap per idle
	// connection for no measured throughput gain).
	BufferSize int
	// Window is how many QoS 1 telemetry messages one connection may have
	// unacknowledged (waiting for their commit) before the broker stops
	// reading from it; it is also the Receive Maximum told to MQTT 5
	// clients (default 64).
	Window int
	// MaxInflight is how many QoS 1 and 2 messages the broker may have
	// sent a client unacknowledged (default 64).
	MaxInflight int
	// MaxPacketSize is the largest MQTT packet the broker reads, told to
	// MQTT 5 clients in CONNACK; a larger one closes the connection
	// (default DefaultMaxPacketSize).
	MaxPacketSize int
	// HandshakeTimeout bounds the TLS handshake and the wait for CONNECT
	// (default 10 s).
	HandshakeTimeout time.Duration
	// OnConnect is called when a device's session starts, after CONNACK
	// and before the broker reads anything from it (so before it can
	// subscribe): a job published then is the retained message its
	// subscription receives. May be nil; it must not block for long.
	OnConnect func(deviceID string)
	// OnSession is called when a device's session starts (up, before
	// OnConnect) and when it ends, with the time it started, which tells
	// one session of the device from the next (the cluster's presence
	// record). May be nil; it must not block.
	OnSession func(deviceID string, started time.Time, up bool)
	// OnStatus receives what a device publishes on its own
	// devices/<id>/updates topic (update outcomes) and
	// devices/<id>/progress topic (update progress); may be nil. The
	// payload tells them apart (docs/agent.md).
	OnStatus func(deviceID string, payload []byte)

	// Per-device quotas (docs/fleet-server.md, "Broker ACL and quotas").
	//
	// MessageRate is how many packets a second one connection may send
	// (a token bucket holding one second's worth); beyond it the broker
	// reads the connection more slowly (default 1,000; negative: no
	// limit). MaxSubscriptions bounds a session's subscriptions (default
	// 16); MaxRetainedBytes the one retained message a device may keep,
	// its update outcome (default deviceproto.MaxOutcomeSize, 32 KiB).
	MessageRate      int
	MaxSubscriptions int
	MaxRetainedBytes int
	// MaxKeepalive replaces a keepalive of 0 or above it (default 600 s;
	// MQTT 5 clients are told in CONNACK): an idle connection is closed
	// after 1.5 times it.
	MaxKeepalive time.Duration
	// WriteTimeout bounds one write to a client (default 30 s): a client
	// that stops reading is disconnected instead of holding the
	// connection's writer and its queued messages.
	WriteTimeout time.Duration
	// MaxHandshakesPerSource bounds the TLS handshakes in progress from
	// one IP address (default 256); more are closed at once.
	MaxHandshakesPerSource int
	// Admission control for connection storms (admission.go).
	// MaxHandshakes bounds the TLS handshakes running at once (default
	// 512), each from its ClientHello to its end: a connection waits for
	// a slot for up to half of HandshakeTimeout, and is closed if none
	// comes. MaxAuthentications
	// bounds the authentications (the certificate's store reads) running
	// at once (default: half the store's pool, at least 2), and AuthWait
	// how long one waits for a slot (default 500 ms) before its CONNECT
	// is answered "server busy" (MQTT 5 0x89, 3.1.1 0x03). One source
	// holds at most half of either's slots, and slots freed go to the
	// waiting sources in turn.
	MaxHandshakes      int
	MaxAuthentications int
	AuthWait           time.Duration
	// HandshakeSlotBudget is how long a handshake may hold its slot while
	// another source waits for one (default a quarter of
	// HandshakeTimeout, so that a waiter, which waits half of it, gets a
	// slot): past it the connection is closed and the slot goes to the
	// waiting sources in turn, so peers that send a ClientHello and then
	// stall cannot hold every slot for the whole handshake timeout.
	HandshakeSlotBudget time.Duration
	// Refusals coalesces the refusal audit entries (audit.go): the fleet
	// server shares one among all its listeners, and runs and flushes
	// it. When nil the broker makes its own (at most 4,096 bursts, window
	// AuditWindow), runs it and flushes it on Close.
	Refusals *burst.Coalescer[*store.AuditEntry]
	// AuditWindow is how long a burst of refusals of one kind from one
	// device lasts in the broker's own coalescer: its first refusal is
	// audited at once, the count of the rest when it ends (default 1
	// minute).
	AuditWindow time.Duration

	// afterAuthenticate, when set (tests), runs for a connection that
	// passed its handshake and CONNECT checks, before mochi registers it.
	afterAuthenticate func(id string)
	// beforeSession, when set (tests), runs after CONNACK went out and
	// before the session is registered (OnSessionEstablished).
	beforeSession func(id string)
	// inAuthentication, when set (tests), runs while a connection holds
	// an authentication slot, before the store reads.
	inAuthentication func(id string)
}

// DefaultMaxPacketSize is Config.MaxPacketSize's default.
const DefaultMaxPacketSize = 64 << 10

// Defaults returns the quotas, buffer sizes and timeouts New gives the
// zero fields of a Config (the fleet server's configuration defaults to
// them too).
func Defaults() Config {
	return Config{BufferSize: 512, Window: 64, MaxInflight: 64, MaxPacketSize: DefaultMaxPacketSize, HandshakeTimeout: 10 * time.Second,
		MessageRate: 1000, MaxSubscriptions: 16, MaxRetainedBytes: deviceproto.MaxOutcomeSize, MaxKeepalive: 600 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHandshakesPerSource: 256, AuditWindow: time.Minute,
		MaxHandshakes: 512, AuthWait: 500 * time.Millisecond}
}

// DefaultMaxAuthentications is Config.MaxAuthentications's default for
// db: half its connection pool, so that authentications in a storm
// leave the other half to telemetry, enrollment and the health checks;
// at least 2.
func DefaultMaxAuthentications(db *store.DB) int {
	return max(2, db.PoolSize()/2)
}

// Broker is a running MQTT broker.
type Broker struct {
	cfg       Config
	srv       *mqtt.Server
	lis       *tlsListener
	window    int
	limits    limits
	keepalive uint16 // Config.MaxKeepalive in seconds
	refusals  *burst.Coalescer[*store.AuditEntry]
	// ownRefusals: refusals is the broker's own, run by Start
	// (stopRefusals ends it, flushing) and flushed by Close.
	ownRefusals  bool
	stopRefusals func()
	closed       atomic.Bool // Close has run: refusals are no longer audited
	started      time.Time   // origin of the rate limiters' monotonic clock
	sessions     sync.Map    // *mqtt.Client -> *session, from CONNECT to disconnection
	connected    atomic.Int64
	published    atomic.Int64
	countQoS0    func(error)  // the Sink's completion for QoS 0 telemetry
	jobs         *mqtt.Client // the server's own client publishing jobs (PublishJob)

	auth      *fairSem                 // authentication slots (admission.go)
	busy      atomic.Int64             // connections refused for load, all kinds (Busy)
	recent    recent                   // recent renewals and drops of devices (credentials.go)
	draining  atomic.Bool              // Drain has begun (drain.go)
	refs      atomic.Pointer[[]string] // other nodes' MQTT endpoints, for Server Reference (drain.go)
	closeOnce sync.Once
}

// New builds a broker; Start begins listening.
func New(cfg Config) (*Broker, error) {
	if cfg.CA == nil || cfg.Store == nil {
		return nil, errors.New("broker: config: CA and Store are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := Defaults()
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = d.BufferSize
	}
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	cfg.Window = min(cfg.Window, 65535)
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = d.HandshakeTimeout
	}
	if cfg.HandshakeSlotBudget <= 0 {
		cfg.HandshakeSlotBudget = cfg.HandshakeTimeout / 4
	}
	setDefault(&cfg.MaxInflight, d.MaxInflight)
	cfg.MaxInflight = min(cfg.MaxInflight, 65535)
	setDefault(&cfg.MaxPacketSize, d.MaxPacketSize)
	setDefault(&cfg.MessageRate, d.MessageRate)
	setDefault(&cfg.MaxSubscriptions, d.MaxSubscriptions)
	setDefault(&cfg.MaxRetainedBytes, d.MaxRetainedBytes)
	setDefault(&cfg.MaxHandshakesPerSource, d.MaxHandshakesPerSource)
	setDefault(&cfg.MaxKeepalive, d.MaxKeepalive)
	setDefault(&cfg.WriteTimeout, d.WriteTimeout)
	setDefault(&cfg.AuditWindow, d.AuditWindow)
	setDefault(&cfg.MaxHandshakes, d.MaxHandshakes)
	setDefault(&cfg.MaxAuthentications, DefaultMaxAuthentications(cfg.Store))
	setDefault(&cfg.AuthWait, d.AuthWait)
	cfg.MaxKeepalive = min(max(cfg.MaxKeepalive, time.Second), 65535*time.Second)
	b := &Broker{cfg: cfg, window: cfg.Window, limits: defaultLimits, keepalive: uint16(cfg.MaxKeepalive / time.Second), started: time.Now()}
	b.limits.retainedBytes = cfg.MaxRetainedBytes
	b.refusals, b.ownRefusals = cfg.Refusals, cfg.Refusals == nil
	if b.ownRefusals {
		b.refusals = newRefusals(&cfg)
	}
	b.recent.m = map[string]credChange{}
	b.auth = newFairSem(cfg.MaxAuthentications, cfg.MaxAuthentications/2)
	b.countQoS0 = func(err error) {
		if err == nil {
			b.published.Add(1)
		}
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 64
	caps.MaximumSessionExpiryInterval = 3600
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize) // advertised to MQTT 5 clients by the hook (OnPacketEncode)
	caps.ReceiveMaximum = uint16(cfg.Window)           // telemetry: enforced by the hook (session.enqueue)
	caps.MaximumInflight = uint16(cfg.MaxInflight)
	// No cap on message expiry: mochi deletes every retained message
	// older than the cap, whatever its own expiry, and a retained job
	// must last as long as the job (PublishJob gives it the job's
	// expiry). What devices retain is bounded by the ACL instead (one
	// outcome per device, at most MaxRetainedBytes), and a disconnected
	// session, with what is queued for it, by MaximumSessionExpiryInterval.
	caps.MaximumMessageExpiryInterval = 0
	// No topic aliases: mochi would keep up to 65,535 topic names per
	// connection, and checks the ACL before resolving an alias. CONNACK
	// offers none (absent means 0), so an alias is a protocol error.
	caps.TopicAliasMaximum = 0
	caps.SharedSubAvailable = 0 // advertised by the hook; the ACL refuses $share/ filters
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetWriteBufferSize: cfg.BufferSize,
		ClientNetReadBufferSize:  cfg.BufferSize,
		Logger:                   slog.New(packetSummary{cfg.Log.With("subsystem", "mochi").Handler()}),
		SysTopicResendInterval:   3600,
		InlineClient:             true, // the server publishes jobs (PublishJob)
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// An inline client of protocol version 5, so that the Message Expiry
	// Interval of its messages applies (mochi ignores it on others).
	b.jobs = b.srv.NewClient(nil, mqtt.LocalListener, "rampart-jobs", true)
	b.jobs.Properties.ProtocolVersion = 5
	return b, nil
}

// Start listens and serves in the background.
func (b *Broker) Start() error {
	tc := tlsconf.Server(b.cfg.Certificate)
	tc.ClientAuth = tls.RequireAnyClientCert // verified in VerifyConnection, so that refusals are audited
	b.lis = newTLSListener("mqtts", b.cfg.Address, tc, b.cfg.HandshakeTimeout)
	b.lis.verify = b.admit // per connection, with its source (admission.go)
	b.lis.slots = newFairSem(b.cfg.MaxHandshakes, b.cfg.MaxHandshakes/2)
	b.lis.slotBudget = b.cfg.HandshakeSlotBudget
	b.lis.onRefused = b.refusedForLoad
	b.lis.writeTimeout, b.lis.perSource = b.cfg.WriteTimeout, b.cfg.MaxHandshakesPerSource
	b.lis.closeClients = b.closeClients
	if err := b.srv.AddListener(b.lis); err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Address, err)
	}
	b.startRefusals()
	return b.srv.Serve()
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.lis.Address() }

// Connected is the number of connected devices.
func (b *Broker) Connected() int64 { return b.connected.Load() }

// Published is the number of telemetry messages accepted.
func (b *Broker) Published() int64 { return b.published.Load() }

// PublishJob publishes payload as the retained QoS 1 job of the device
// (an empty payload clears it), from the server's own inline client. The
// retained message lasts until expires, the signed job's own expiry
// (zero: until it is replaced); before, mochi's one-hour cap on message
// expiry deleted every retained job an hour after it was published.
func (b *Broker) PublishJob(deviceID string, payload []byte, expires time.Time) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName: deviceproto.JobsTopic(deviceID), Payload: payload, PacketID: 1}
	if !expires.IsZero() && len(payload) > 0 {
		secs := (expires.Sub(b.cfg.Now()) + time.Second - 1) / time.Second // rounded up
		pk.Properties.MessageExpiryInterval = uint32(min(max(secs, 1), math.MaxUint32))
	}
	if err := b.srv.InjectPacket(b.jobs, pk); err != nil {
		return fmt.Errorf("broker: publish job to %s: %w", deviceID, err)
	}
	return nil
}

// Close stops the broker and closes every connection, then writes the
// counts of the refusal bursts still open in its own coalescer to the
// audit log (a shared coalescer is flushed by its owner).
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.srv.Close()
		b.closeRefusals()
	})
	return nil
}

// closeClients disconnects every client of the listener at shutdown, as
// mochi's own callback does (reason: server shutting down), but from one
// snapshot of the clients taken under a single read lock (listener.go).
func (b *Broker) closeClients(listenerID string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == listenerID && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// Disconnect drops the device's connection, if any, and forgets its
// session; its Will is not published. It reports whether a connection
// was dropped. Call it after the store has recorded the change (the
// device suspended or decommissioned): a connection whose handshake began
// before the call, and which is not registered yet, is dropped when it
// registers (credentials.go).
func (b *Broker) Disconnect(deviceID, reason string) bool {
	now := time.Now()
	b.note(deviceID, func(e *credChange) { e.dropped, e.reason = now, reason })
	cl, ok := b.srv.Clients.Get(deviceID)
	if !ok {
		return false
	}
	was := b.drop(cl, reason)
	b.cfg.Log.Info("device disconnected", "device", deviceID, "reason", reason)
	return was
}

// drop ends cl's connection for a reason of the fleet's (revocation,
// suspension, an expired or superseded certificate) and forgets its
// session. The Will is cleared first: a credential the fleet no longer
// accepts publishes nothing more, now or after a Will delay.
func (b *Broker) drop(cl *mqtt.Client, reason string) bool {
	was := !cl.Closed()
	atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
	b.srv.DisconnectClient(cl, packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: reason})
	b.srv.UnsubscribeClient(cl)
	if cur, ok := b.srv.Clients.Get(cl.ID); ok && cur == cl {
		b.srv.Clients.Delete(cl.ID)
	}
	return was
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Online lists the devices connected to this broker now (their client
// identifiers, which are their device IDs), in no order: the console's
// "online" state.
func (b *Broker) Online() []string {
	all := b.srv.Clients.GetAll()
	out := make([]string, 0, len(all))
	for id, cl := range all {
		// Only device sessions: not the server's own inline clients.
		if _, device := b.sessions.Load(cl); device && !cl.Closed() {
			out = append(out, id)
		}
	}
	return out
}
