package fleet

import (
	"time"

	"rampart/fleet/broker"
)

// MQTTLimits are the MQTT broker's per-connection quotas and timeouts
// (docs/fleet-server.md, "Broker ACL and quotas"); zero fields take the
// defaults, which are the broker's own.
type MQTTLimits struct {
	// MaxPacketSize: the largest packet a client may send (bytes; told
	// to MQTT 5 clients in CONNACK); a larger one closes the connection.
	MaxPacketSize int `yaml:"max_packet_size"`
	// MaxRetainedBytes: the one retained message a device may keep, its
	// update outcome.
	MaxRetainedBytes int `yaml:"max_retained_bytes"`
	// MaxSubscriptions: filters one session may hold.
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// MessageRate: packets a second one connection may send (a burst of
	// one second's worth); beyond, the broker reads it more slowly.
	MessageRate int `yaml:"message_rate"`
	// ReceiveMaximum: QoS 1 telemetry messages a connection may have
	// waiting for their commit (the Receive Maximum told to MQTT 5
	// clients); beyond, the broker stops reading it.
	ReceiveMaximum int `yaml:"receive_maximum"`
	// MaxInflight: QoS 1 and 2 messages the broker may have sent one
	// client unacknowledged.
	MaxInflight int `yaml:"max_inflight"`
	// MaxKeepalive replaces a client's keepalive of 0 or above it.
	MaxKeepalive Duration `yaml:"max_keepalive"`
	// WriteTimeout: one write to a client; a client that stops reading
	// is disconnected.
	WriteTimeout Duration `yaml:"write_timeout"`
	// HandshakeTimeout: the TLS handshake, then again the wait for
	// CONNECT.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// MaxHandshakesPerSource: TLS handshakes in progress from one IP
	// address; more connections are closed at once.
	MaxHandshakesPerSource int `yaml:"max_handshakes_per_source"`
	// Admission control in a reconnection storm (docs/fleet-server.md,
	// "Connection storms"). MaxHandshakes: TLS handshakes running at
	// once. MaxAuthentications: authentications (store reads) running at
	// once; 0: half the store's connection pool, at least 2. AuthWait:
	// how long a connection waits for an authentication slot before its
	// CONNECT is answered "server busy".
	MaxHandshakes      int      `yaml:"max_handshakes"`
	MaxAuthentications int      `yaml:"max_authentications"`
	AuthWait           Duration `yaml:"auth_wait"`
}

// defaultMQTT are the broker's defaults.
var defaultMQTT = func() MQTTLimits {
	d := broker.Defaults()
	return MQTTLimits{MaxPacketSize: d.MaxPacketSize, MaxRetainedBytes: d.MaxRetainedBytes, MaxSubscriptions: d.MaxSubscriptions,
		MessageRate: d.MessageRate, ReceiveMaximum: d.Window, MaxInflight: d.MaxInflight, MaxKeepalive: Duration{d.MaxKeepalive},
		WriteTimeout: Duration{d.WriteTimeout}, HandshakeTimeout: Duration{d.HandshakeTimeout}, MaxHandshakesPerSource: d.MaxHandshakesPerSource,
		MaxHandshakes: d.MaxHandshakes, AuthWait: Duration{d.AuthWait}}
}()

// validate applies the defaults to the zero fields of m and checks the
// result against ranges that keep a connection's cost bounded (a receive
// window is a per-connection buffer; a retained message must fit in a
// packet, and an update outcome, up to 32 KiB, in the retained quota).
func (m *MQTTLimits) validate(bad report) {
	num := func(v *int, dv int, key string, lo, hi int) {
		if *v == 0 {
			*v = dv
		}
		if *v < lo || *v > hi {
			bad("mqtt."+key, "%d: want %d..%d", *v, lo, hi)
		}
	}
	dur := func(d *Duration, dv Duration, key string, lo, hi time.Duration) {
		if d.Duration == 0 {
			*d = dv
		}
		if d.Duration < lo || d.Duration > hi {
			bad("mqtt."+key, "%v: want %v..%v", d.Duration, lo, hi)
		}
	}
	d := defaultMQTT
	num(&m.MaxPacketSize, d.MaxPacketSize, "max_packet_size", 4<<10, 16<<20)
	num(&m.MaxRetainedBytes, d.MaxRetainedBytes, "max_retained_bytes", 32<<10, max(m.MaxPacketSize, 32<<10))
	num(&m.MaxSubscriptions, d.MaxSubscriptions, "max_subscriptions", 1, 1024)
	num(&m.MessageRate, d.MessageRate, "message_rate", 1, 100_000)
	num(&m.ReceiveMaximum, d.ReceiveMaximum, "receive_maximum", 1, 1024)
	num(&m.MaxInflight, d.MaxInflight, "max_inflight", 1, 1024)
	dur(&m.MaxKeepalive, d.MaxKeepalive, "max_keepalive", time.Second, 65535*time.Second)
	dur(&m.WriteTimeout, d.WriteTimeout, "write_timeout", 100*time.Millisecond, 10*time.Minute)
	dur(&m.HandshakeTimeout, d.HandshakeTimeout, "handshake_timeout", 100*time.Millisecond, 5*time.Minute)
	num(&m.MaxHandshakesPerSource, d.MaxHandshakesPerSource, "max_handshakes_per_source", 1, 65536)
	num(&m.MaxHandshakes, d.MaxHandshakes, "max_handshakes", 1, 65536)
	if m.MaxAuthentications < 0 || m.MaxAuthentications > 4096 { // 0: derived from the store's pool
		bad("mqtt.max_authentications", "%d: want 0 (half the store's pool) or 1..4096", m.MaxAuthentications)
	}
	dur(&m.AuthWait, d.AuthWait, "auth_wait", time.Millisecond, time.Minute)
}

// brokerConfig copies the limits into the broker's configuration.
func (m *MQTTLimits) brokerConfig(c *broker.Config) {
	c.MaxPacketSize, c.MaxRetainedBytes, c.MaxSubscriptions = m.MaxPacketSize, m.MaxRetainedBytes, m.MaxSubscriptions
	c.MessageRate, c.Window, c.MaxInflight = m.MessageRate, m.ReceiveMaximum, m.MaxInflight
	c.MaxKeepalive, c.WriteTimeout, c.HandshakeTimeout = m.MaxKeepalive.Duration, m.WriteTimeout.Duration, m.HandshakeTimeout.Duration
	c.MaxHandshakesPerSource = m.MaxHandshakesPerSource
	c.MaxHandshakes, c.MaxAuthentications, c.AuthWait = m.MaxHandshakes, m.MaxAuthentications, m.AuthWait.Duration
}
