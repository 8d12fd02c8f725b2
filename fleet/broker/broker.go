package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// TopicPrefix is the root of every device's topics: devices/<id>/...
const TopicPrefix = "devices/"

// TelemetryTopic returns the topic a device publishes telemetry to.
func TelemetryTopic(deviceID string) string { return TopicPrefix + deviceID + "/telemetry" }

// Sink receives telemetry payloads. Store must return only once the data is
// durable: the broker acknowledges a QoS 1 or 2 publish after it returns nil.
type Sink interface {
	Store(ctx context.Context, deviceID string, payload []byte) error
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
	// BufferSize is the per-connection read and write buffer (default 2 KiB).
	BufferSize int
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
	lis       *listeners.TCP
	connected atomic.Int64
	published atomic.Int64
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
		cfg.BufferSize = 2048
	}
	b := &Broker{cfg: cfg}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 64
	caps.MaximumSessionExpiryInterval = 3600
	caps.MaximumPacketSize = 64 << 10
	caps.ReceiveMaximum = 64
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
	b.lis = listeners.NewTCP(listeners.Config{ID: "mqtts", Address: b.cfg.Address, TLSConfig: tc})
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

// peerID returns the common name of the client's verified certificate.
func peerID(cl *mqtt.Client) (string, bool) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return "", false
	}
	cs := tc.ConnectionState()
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	return cs.PeerCertificates[0].Subject.CommonName, true
}

// hook enforces identity and the ACL and feeds telemetry to the sink.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "rampart-fleet" }

func (h *hook) Provides(x byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnSessionEstablished, mqtt.OnDisconnect}, []byte{x})
}

func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	id, ok := peerID(cl)
	if !ok {
		h.b.deny(context.Background(), "", "mqtt.connect", "no verified client certificate")
		return false
	}
	if cl.ID != id {
		h.b.deny(context.Background(), id, "mqtt.connect", fmt.Sprintf("client identifier %q is not the certificate's device id %q", cl.ID, id))
		return false
	}
	return true
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) { h.b.connected.Add(1) }

func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { h.b.connected.Add(-1) }

// allowed reports whether topic (a name or a filter) lies under the
// client's own prefix, without wildcards that could reach beyond it.
func allowed(id, topic string) bool {
	p := TopicPrefix + id + "/"
	return strings.HasPrefix(topic, p) && len(topic) > len(p)
}

func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	id, ok := peerID(cl)
	if ok && id == cl.ID && allowed(id, topic) {
		return true
	}
	op := "subscribe"
	if write {
		op = "publish"
	}
	h.b.deny(context.Background(), cl.ID, "mqtt."+op, fmt.Sprintf("topic %q is outside %s%s/", topic, TopicPrefix, cl.ID))
	return false
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline && h.b.cfg.OnStatus != nil && (pk.TopicName == StatusTopic(cl.ID) || pk.TopicName == ProgressTopic(cl.ID)) {
		h.b.cfg.OnStatus(cl.ID, pk.Payload)
		return pk, nil
	}
	if cl.Net.Inline || pk.TopicName != TelemetryTopic(cl.ID) {
		return pk, nil
	}
	if h.b.cfg.Sink == nil {
		return pk, packets.ErrImplementationSpecificError
	}
	if err := h.b.cfg.Sink.Store(context.Background(), cl.ID, pk.Payload); err != nil {
		h.b.cfg.Log.Info("telemetry refused", "device", cl.ID, "err", err)
		if cl.Properties.ProtocolVersion == 5 {
			return pk, packets.ErrPayloadFormatInvalid
		}
		return pk, packets.ErrRejectPacket // no acknowledgement: the device retries or gives up
	}
	h.b.published.Add(1)
	return pk, nil
}
