package agent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
)

// Connect opens the mutual-TLS MQTT session (client identifier = device
// id, as the broker requires) and subscribes to the device's jobs topic.
func (a *Agent) Connect(ctx context.Context) error {
	id := a.DeviceID()
	if id == "" {
		return errors.New("agent: mqtt: not enrolled")
	}
	conn, cert, addr, err := a.dialTLS(ctx)
	if err != nil {
		return err
	}
	lost := make(chan struct{})
	told := new(atomic.Bool)
	var once = make(chan struct{}, 1)
	signal := func() {
		select {
		case once <- struct{}{}:
			close(lost)
		default:
		}
	}
	c := paho.NewClient(paho.ClientConfig{
		Conn:          packets.NewThreadSafeConn(conn),
		OnClientError: func(error) { signal() },
		OnServerDisconnect: func(d *paho.Disconnect) {
			told.Store(true)
			if d.Properties != nil {
				a.serverReference(d.ReasonCode, d.Properties.ServerReference)
			} else {
				a.serverReference(d.ReasonCode, "")
			}
			signal()
		},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if pr.Packet.Topic != deviceproto.JobsTopic(id) || len(pr.Packet.Payload) == 0 {
				return false, nil
			}
			a.receiveJob(pr.Packet.Payload)
			return true, nil
		}},
	})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ca, err := c.Connect(cctx, connectPacket(id))
	if err != nil {
		conn.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			a.endpointFailed(addr)
			if ca.Properties != nil {
				a.serverReference(ca.ReasonCode, ca.Properties.ServerReference)
			}
			return connackError(addr, ca.ReasonCode)
		}
		a.connectFailed(addr, cert, certificateRefused(err))
		return fmt.Errorf("agent: mqtt: %s: connect: %w", addr, err)
	}
	sa, err := subscribeUntilLost(cctx, c, lost, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: deviceproto.JobsTopic(id), QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		c.Disconnect(&paho.Disconnect{})
		return fmt.Errorf("agent: mqtt: subscribe %s: %v", deviceproto.JobsTopic(id), err)
	}
	a.mu.Lock()
	old := a.mqtt
	a.mqtt, a.mqttCert, a.mqttAddr, a.lost, a.told = c, cert, addr, lost, told
	a.ep.worked(addr)
	a.mu.Unlock()
	if old != nil {
		old.Disconnect(&paho.Disconnect{})
	}
	return nil
}

// receiveMaximum is the agent's MQTT 5 Receive Maximum: how many QoS 1
// messages the broker may have in flight to it. The agent receives only
// its job notifications, one at a time; without the property paho sizes
// its queue of received messages for 65,535 (a 512 KiB channel buffer per
// connection, a third of a simulated device's heap:
// TestConnectionHeapBounded).
const receiveMaximum = 16

// connectPacket is the agent's CONNECT.
func connectPacket(id string) *paho.Connect {
	rm := uint16(receiveMaximum)
	return &paho.Connect{ClientID: id, KeepAlive: 60, CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &rm}}
}

// connectFailed records a connection to addr with cert that did not open
// a session; certRefused: the broker refused the certificate. A refusal
// of a certificate the agent has replaced since it dialed says nothing
// about addr or about the new certificate: an update's re-attestation
// renews the certificate, the broker ends the old one's session as soon
// as the renewal commits, and the reconnection may dial with the old one
// before the renewal's answer arrives. Counted as usual, that refusal
// moved the next attempt to another endpoint (in a cluster that had just
// lost a node, often the dead one: a refused dial and a backoff more)
// and forced a second renewal, 10-15 s later, that ended the new session
// again (TestRefusalOfReplacedCertificate).
func (a *Agent) connectFailed(addr string, cert *x509.Certificate, certRefused bool) {
	a.mu.Lock()
	replaced := a.cert != cert
	if certRefused && !replaced {
		a.forceRenew = true
	}
	a.mu.Unlock()
	if !(certRefused && replaced) {
		a.endpointFailed(addr)
	}
}

// subscribeUntilLost subscribes, and stops waiting for the SUBACK when
// the session is lost. paho's Subscribe waits until its context ends,
// even with the connection gone: a node killed between CONNACK and SUBACK
// would hold the device for the whole timeout, far past its reconnect
// backoff.
func subscribeUntilLost(ctx context.Context, c *paho.Client, lost <-chan struct{}, s *paho.Subscribe) (*paho.Suback, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-sctx.Done():
		}
	}()
	return c.Subscribe(sctx, s)
}

// ErrServerBusy is a CONNACK telling the device to come back later: the
// node is admitting connections at the rate it can authenticate them
// (MQTT 5 0x89 server busy, 0x88 server unavailable; docs/fleet-server.md,
// "Connection storms"). It is transient: Run retries after its backoff,
// with full jitter so that the refused devices of a storm spread out, at
// the next endpoint.
var ErrServerBusy = errors.New("agent: mqtt: server busy")

// Reason codes of a CONNACK that asks the device to retry later.
const (
	reasonServerUnavailable = 0x88
	reasonServerBusy        = 0x89
)

// connackError is the error of a CONNACK with refusal code.
func connackError(addr string, code byte) error {
	if code == reasonServerBusy || code == reasonServerUnavailable {
		return fmt.Errorf("%w: %s: CONNACK reason %#x; retrying after the backoff", ErrServerBusy, addr, code)
	}
	return fmt.Errorf("agent: mqtt: %s: connect refused: reason %#x", addr, code)
}

// MQTT 5 reason codes that send a device to another server.
const (
	reasonUseAnotherServer = 0x9C
	reasonServerMoved      = 0x9D
)

// serverReference acts on a DISCONNECT or CONNACK reason code: 0x9C and
// 0x9D move the next connection to the Server Reference (endpoints.go).
func (a *Agent) serverReference(code byte, ref string) {
	if code == reasonUseAnotherServer || code == reasonServerMoved {
		a.referTo(ref, code == reasonServerMoved)
	}
}

// sessionLost moves the next connection past the endpoint of the session
// that ended (once per session): the devices of a node that went away try
// another at once. A session cut without a DISCONNECT also marks its
// endpoint down for a while (endpoints.go, recentlyDown).
func (a *Agent) sessionLost() {
	a.mu.Lock()
	addr := a.mqttAddr
	a.mqttAddr = ""
	cut := a.told != nil && !a.told.Load() && isClosed(a.lost)
	a.mu.Unlock()
	switch {
	case addr == "":
	case cut:
		a.endpointDown(addr)
	default:
		a.endpointFailed(addr)
	}
}

// isClosed reports whether ch is closed (nil: no).
func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// reconnectIfRenewed opens a new MQTT session at once when the agent has
// renewed its certificate since the current one was opened: the broker
// ends a session whose certificate was superseded (and the fleet revoked
// the old one), and waiting for the loss and the retry backoff would
// delay the outcome report that follows an update's re-attestation. It
// returns the new session's loss channel (the current one when nothing
// was renewed).
func (a *Agent) reconnectIfRenewed(ctx context.Context) (<-chan struct{}, error) {
	a.mu.Lock()
	renewed := a.mqtt != nil && a.cert != a.mqttCert
	lost := a.lost
	a.mu.Unlock()
	if !renewed {
		return lost, nil
	}
	a.cfg.Log.Info("certificate renewed: reconnecting with it")
	if err := a.Connect(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lost, nil
}

// Connected reports whether an MQTT session is up.
func (a *Agent) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mqtt == nil {
		return false
	}
	select {
	case <-a.lost:
		return false
	default:
		return true
	}
}

func (a *Agent) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	a.mu.Lock()
	c, lost := a.mqtt, a.lost
	a.mu.Unlock()
	if c == nil {
		return errors.New("agent: mqtt: not connected")
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// A QoS 1 publish whose connection is lost before its PUBACK would
	// wait out the client's packet timeout (10 s): a device whose node
	// died while it reported would reconnect elsewhere only then. It
	// ends with the session.
	go func() {
		select {
		case <-lost:
			cancel()
		case <-pctx.Done():
		}
	}()
	pr, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload, Retain: retain})
	if pr != nil && pr.ReasonCode >= 0x80 {
		return &PublishRefused{Topic: topic, Reason: pr.ReasonCode}
	}
	if err != nil {
		return fmt.Errorf("agent: mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// PublishRefused is a publish the broker answered with a failure reason.
type PublishRefused struct {
	Topic  string
	Reason byte
}

func (e *PublishRefused) Error() string {
	return fmt.Sprintf("agent: mqtt: publish %s refused: reason %#x", e.Topic, e.Reason)
}

// Publish sends one telemetry sample (QoS 1: acknowledged means stored).
// If the broker refuses the sample and it carried the device's timestamp,
// the device clock may be wrong: it is sent again stamped by the server.
func (a *Agent) Publish(ctx context.Context, values map[string]float64) error {
	id := a.DeviceID()
	m := deviceproto.Telemetry{TS: a.cfg.Now().UnixMilli(), Values: values}
	b, _ := json.Marshal(m)
	err := a.publish(ctx, deviceproto.TelemetryTopic(id), b, false)
	var ref *PublishRefused
	if errors.As(err, &ref) {
		a.cfg.Log.Warn("telemetry refused; resending with the server's time", "err", err)
		m.TS = 0
		b, _ = json.Marshal(m)
		err = a.publish(ctx, deviceproto.TelemetryTopic(id), b, false)
	}
	if err == nil {
		a.published.Add(1)
	}
	return err
}

func (a *Agent) readings() map[string]float64 {
	now := a.cfg.Now()
	if a.cfg.Telemetry != nil {
		if v := a.cfg.Telemetry(now); len(v) > 0 {
			return v
		}
	}
	return map[string]float64{"uptime_s": now.Sub(a.started).Seconds()}
}

// PublishTo publishes payload (QoS 1) on devices/<id>/<suffix>, the only
// topics the broker lets the device use; retain keeps it for later
// subscribers.
func (a *Agent) PublishTo(ctx context.Context, suffix string, payload []byte, retain bool) error {
	if suffix == "" || strings.ContainsAny(suffix, "+#") || strings.HasPrefix(suffix, "/") {
		return fmt.Errorf("agent: mqtt: topic suffix %q", suffix)
	}
	return a.publish(ctx, deviceproto.DeviceTopic(a.DeviceID(), suffix), payload, retain)
}
