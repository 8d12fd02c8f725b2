package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The messages that name a device (a job, a disconnect, a superseded
// certificate) travel through a JetStream stream, not core NATS: a core
// publish is at most once, and one sent while a node's connection moves
// from one NATS server to another (its server died, or led a stream and
// was killed) never reaches that node. In the stream every message is
// stored on `replicas` servers before the publisher is answered, and each
// node reads the stream with an ordered consumer that, when its
// connection moves or its consumer's server goes away, is recreated from
// the stream sequence after the last message it delivered: nothing is
// missed and nothing delivered twice.
//
// One subject per device and kind (rampart.<cluster>.<kind>.<device hex>)
// and one message kept per subject: the stream holds, like an MQTT
// retained message, only each device's latest job, disconnect and
// superseded certificate, so its size is bounded by the device count, not
// by the traffic. A node reads only what was published after it
// subscribed (a node that starts has no session yet; a device's job is
// published again when it connects), and messages are kept busMaxAge:
// the gap a node cut off from NATS can catch up on. A longer outage is
// caught up by the store (OnReconnect: every session is checked again)
// and by the job published again at the device's next connection.

// busMaxAge is how long the bus stream keeps a message.
const busMaxAge = time.Hour

// busPublishFor bounds the retries of one publish: a stream whose leader
// died elects another within a few seconds. A disconnect waits less (an
// operator's request waits for it) and, when the stream does not answer
// (JetStream without a quorum), falls back to core NATS: at most once,
// and a node that misses it rechecks its sessions against the store when
// its connection comes back.
const (
	busPublishFor       = 10 * time.Second
	busDisconnectWithin = 3 * time.Second
)

// busHeartbeat is the ordered consumers' idle heartbeat: a consumer whose
// server went away is noticed after two missed beats and recreated.
const busHeartbeat = time.Second

func (n *Node) busStream() string { return n.cfg.Cluster + "-bus" }

// busSubject is the subject of deviceID's message of kind.
func (n *Node) busSubject(kind, deviceID string) string {
	return n.prefix + kind + "." + hex.EncodeToString([]byte(deviceID))
}

// createBus creates (or updates) the bus stream.
func (n *Node) createBus(ctx context.Context) error {
	var subjects []string
	for _, k := range []string{SubjectJobs, SubjectDisconnect, SubjectSuperseded} {
		subjects = append(subjects, n.prefix+k+".*")
	}
	_, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.busStream(), Subjects: subjects, Storage: jetstream.FileStorage, Replicas: n.cfg.Replicas,
		MaxMsgsPerSubject: 1, MaxAge: busMaxAge, MaxMsgSize: maxBusMessage, Discard: jetstream.DiscardOld,
		Duplicates: 2 * time.Minute})
	return err
}

// busMsg is m for deviceID as a message of kind on the bus stream, with a
// random message ID (a retry of it is stored once).
func (n *Node) busMsg(kind, deviceID string, m message) (*nats.Msg, error) {
	m.From, m.Device = n.cfg.Node, deviceID
	b, _ := json.Marshal(m)
	if len(b) > maxBusMessage {
		return nil, fmt.Errorf("cluster: %s message for %s: %d bytes, over %d", kind, deviceID, len(b), maxBusMessage)
	}
	var id [12]byte
	rand.Read(id[:])
	msg := &nats.Msg{Subject: n.busSubject(kind, deviceID), Data: b, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, hex.EncodeToString(id[:]))
	return msg, nil
}

// publishDurable stores m on the bus stream under deviceID, retrying
// until the stream answers or within passes.
func (n *Node) publishDurable(kind, deviceID string, m message, within time.Duration) error {
	msg, err := n.busMsg(kind, deviceID, m)
	if err != nil {
		return err
	}
	if err := n.publishRetrying(msg, within); err != nil {
		return fmt.Errorf("cluster: publish %s for %s: %w", kind, deviceID, err)
	}
	return nil
}

// publishUrgent publishes on the bus within busDisconnectWithin or, if
// the stream does not answer in time, on the core subject that every node
// also subscribes to (flushed to the server before return).
func (n *Node) publishUrgent(kind, deviceID string, m message) error {
	err := n.publishDurable(kind, deviceID, m, busDisconnectWithin)
	if err == nil {
		return nil
	}
	m.Device = deviceID
	if cerr := n.publish(kind, m); cerr != nil {
		return errors.Join(err, cerr)
	}
	if cerr := n.nc.FlushTimeout(time.Second); cerr != nil {
		return errors.Join(err, cerr)
	}
	n.cfg.Log.Warn("bus stream unavailable: sent on core NATS (at most once)", "kind", kind, "device", deviceID, "err", err)
	return nil
}

// consumeDurable calls f for each message of kind another node stores on
// the bus from now on, in the order stored.
func (n *Node) consumeDurable(kind string, f func(message)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := n.js.Stream(ctx, n.busStream())
	if err != nil {
		return fmt.Errorf("cluster: bus: %w", err)
	}
	// From the sequence after the last stored now, not DeliverNew: an
	// ordered consumer recreated before it delivered anything starts at
	// its configured position, and "new" then would be new at that later
	// moment, skipping what was stored in between.
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: bus: %w", err)
	}
	b := &busConsumer{n: n, kind: kind, filter: n.prefix + kind + ".*", f: f, stream: st, last: info.State.LastSeq}
	if err := b.start(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.watch(wctx)
	n.mu.Lock()
	n.consumers = append(n.consumers, b)
	n.mu.Unlock()
	return nil
}

// busMessage decodes a message read from the bus: anything on the NATS
// cluster could have stored it, so it is bounded, must name the device
// its subject names, and is skipped when this node sent it (it applied it
// already) or it is a job past its expiry.
func (n *Node) busMessage(kind, subject string, data []byte) (message, bool) {
	var m message
	if len(data) > maxBusMessage || json.Unmarshal(data, &m) != nil || m.From == n.cfg.Node {
		return m, false
	}
	if m.Device == "" || len(m.Device) > maxDeviceID || subject != n.busSubject(kind, m.Device) {
		return m, false
	}
	if kind == SubjectJobs && len(m.Payload) > 0 && !m.Expires.IsZero() && n.cfg.Now().After(m.Expires) {
		return m, false
	}
	return m, true
}

// onDevice subscribes f to kind on the bus and to the core subject
// rampart.<cluster>.<kind> (without a device token): the previous release
// publishes there, so during a rolling upgrade from it what its nodes send
// still reaches this one, and publishUrgent falls back to it.
func (n *Node) onDevice(kind string, f func(message)) error {
	if err := n.consumeDurable(kind, f); err != nil {
		return err
	}
	return n.subscribe(kind, f)
}

// stopConsumers stops the bus consumers (Close).
func (n *Node) stopConsumers() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range n.consumers {
		b.stop()
	}
	n.consumers = nil
}
