package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// TopicPrefix is the root of every device's topics: devices/<id>/...
const TopicPrefix = "devices/"

// TelemetryTopic returns the topic a device publishes telemetry to.
func TelemetryTopic(deviceID string) string { return TopicPrefix + deviceID + "/telemetry" }

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
	// HandshakeTimeout bounds the TLS handshake and the wait for CONNECT
	// (default 10 s).
	HandshakeTimeout time.Duration
	// OnStatus receives what a device publishes on its own
	// devices/<id>/updates topic (update outcomes) and
	// devices/<id>/progress topic (update progress); may be nil. The
	// payload tells them apart (docs/agent.md).
	OnStatus func(deviceID string, payload []byte)
}

// Broker is a running MQTT broker.
type Broker struct {
	cfg       Config
	srv       *mqtt.Server
	lis       *tlsListener
	window    int
	sessions  sync.Map // *mqtt.Client -> *session, from CONNECT to disconnection
	connected atomic.Int64
	published atomic.Int64
	countQoS0 func(error) // the Sink's completion for QoS 0 telemetry
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
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 512
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	cfg.Window = min(cfg.Window, 65535)
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	b := &Broker{cfg: cfg, window: cfg.Window}
	b.countQoS0 = func(err error) {
		if err == nil {
			b.published.Add(1)
		}
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 64
	caps.MaximumSessionExpiryInterval = 3600
	caps.MaximumPacketSize = 64 << 10
	caps.ReceiveMaximum = uint16(cfg.Window) // telemetry: enforced by the hook (session.enqueue)
	caps.MaximumInflight = 64
	caps.MaximumMessageExpiryInterval = 3600
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetWriteBufferSize: cfg.BufferSize,
		ClientNetReadBufferSize:  cfg.BufferSize,
		Logger:                   cfg.Log.With("subsystem", "mochi"),
		SysTopicResendInterval:   3600,
		InlineClient:             true, // the server publishes jobs (PublishJob)
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// Start listens and serves in the background.
func (b *Broker) Start() error {
	tc := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{b.cfg.Certificate},
		ClientAuth:       tls.RequireAnyClientCert, // verified in VerifyConnection, so that refusals are audited
		VerifyConnection: b.verifyPeer,
	}
	b.lis = newTLSListener("mqtts", b.cfg.Address, tc, b.cfg.HandshakeTimeout)
	if err := b.srv.AddListener(b.lis); err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Address, err)
	}
	return b.srv.Serve()
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.lis.Address() }

// Connected is the number of connected devices.
func (b *Broker) Connected() int64 { return b.connected.Load() }

// Published is the number of telemetry messages accepted.
func (b *Broker) Published() int64 { return b.published.Load() }

// JobsTopic is where the server publishes a device's firmware-update jobs.
func JobsTopic(deviceID string) string { return TopicPrefix + deviceID + "/jobs" }

// StatusTopic is where a device reports update outcomes.
func StatusTopic(deviceID string) string { return TopicPrefix + deviceID + "/updates" }

// ProgressTopic is where a device reports the progress of an update.
func ProgressTopic(deviceID string) string { return TopicPrefix + deviceID + "/progress" }

// PublishJob publishes payload as the retained QoS 1 job of the device
// (an empty payload clears it), from the server's own inline client.
func (b *Broker) PublishJob(deviceID string, payload []byte) error {
	if err := b.srv.Publish(JobsTopic(deviceID), payload, true, 1); err != nil {
		return fmt.Errorf("broker: publish job to %s: %w", deviceID, err)
	}
	return nil
}

// Close stops the broker and closes every connection.
func (b *Broker) Close() error { return b.srv.Close() }

// Disconnect drops the device's connection, if any, and forgets its
// session. It reports whether a connection was dropped.
func (b *Broker) Disconnect(deviceID, reason string) bool {
	cl, ok := b.srv.Clients.Get(deviceID)
	if !ok {
		return false
	}
	was := !cl.Closed()
	b.srv.DisconnectClient(cl, packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: reason})
	b.srv.UnsubscribeClient(cl)
	b.srv.Clients.Delete(deviceID)
	b.cfg.Log.Info("device disconnected", "device", deviceID, "reason", reason)
	return was
}
