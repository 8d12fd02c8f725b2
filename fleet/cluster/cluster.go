// Package cluster is what the nodes of a scaled-out fleet share over NATS
// and JetStream: the registry of live nodes (a heartbeat in the KV bucket
// "nodes"), device presence (which node holds which device's MQTT session,
// KV "presence"), the set of used enrollment nonces (KV "nonces", insert
// if absent), and the cross-node messages: disconnect a device, store a
// job on every node's broker (both through the JetStream stream "bus", so
// that none is lost when a node's NATS connection moves: bus.go), drop
// caches after a change. While a node of the previous release is live it
// also bridges to that release's subjects and nonce bucket (mixed.go); a
// node checks at Connect that its NATS user may use every subject it needs
// (permissions.go).
//
// It only carries facts between nodes: it must never decide anything about
// a device (the store of record is PostgreSQL, fleet/store; the decisions
// are fleet's), never hold a secret, and never be needed by a single node
// without a cluster: section (fleet works without it exactly as before).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how a node joins the cluster.
type Config struct {
	// URLs are NATS server URLs (nats://host:port); the client learns the
	// rest of the cluster from any one of them.
	URLs []string
	// Auth: credentials and TLS for the NATS servers (auth.go).
	Auth Auth
	// Node is this node's name, unique in the cluster.
	Node string
	// Cluster names the cluster in every subject and bucket (default
	// "rampart"); two fleets may share one NATS system under two names.
	Cluster string
	// Version is the rampart version this node runs (shown by
	// rampart fleet nodes).
	Version string
	// MQTT and Enroll are the node's advertised device endpoints.
	MQTT   []string
	Enroll string
	// OnlyListed: connect only to URLs, never to the servers the NATS
	// cluster advertises (where those addresses are unreachable from the
	// node, e.g. behind NAT; tests cutting a node off).
	OnlyListed bool
	// Replicas of each KV bucket: 3 on a three-server NATS cluster (a
	// bucket survives the loss of any one server), 1 on a lone server.
	Replicas int
	// Heartbeat is the registry's write period (default 1 s); a node not
	// heard from for NodeTTL (default 5 s) is gone.
	Heartbeat, NodeTTL time.Duration
	// NonceTTL is the enrollment nonce lifetime: a used nonce is kept
	// twice that long (default 5 m).
	NonceTTL time.Duration
	// Devices and Leases report this node's connected device count and
	// the leases it holds, read at each heartbeat; may be nil.
	Devices func() int64
	Leases  func() []string
	// OnReconnect is called (on its own goroutine) when the connection to
	// NATS comes back after a loss: what other nodes sent meanwhile did
	// not arrive. May be nil.
	OnReconnect func()
	Log         *slog.Logger
	Now         func() time.Time
}

// NodeInfo is one node's registry entry, as written by its heartbeat.
type NodeInfo struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	MQTT      []string  `json:"mqtt,omitempty"`
	Enroll    string    `json:"enroll,omitempty"`
	Started   time.Time `json:"started"`
	Devices   int64     `json:"devices"`
	Leases    []string  `json:"leases,omitempty"`
	Heartbeat time.Time `json:"heartbeat"`
	// Protocol is what the node speaks between nodes (mixed.go): 0, absent,
	// for the previous release.
	Protocol int `json:"protocol,omitempty"`
}

// Node is this process's membership of the cluster.
type Node struct {
	cfg     Config
	nc      *nats.Conn
	denied  *permissionLog // the subjects the servers refused (permissions.go)
	js      jetstream.JetStream
	started time.Time
	prefix  string // rampart.<cluster>.

	nodes, presence, nonces jetstream.KeyValue

	live  atomic.Int64               // nodes seen at the last heartbeat (at least 1)
	older atomic.Bool                // a node of the previous release was live at the last heartbeat (mixed.go)
	seen  atomic.Pointer[[]NodeInfo] // the live nodes at the last heartbeat

	mu        sync.Mutex
	subs      []*nats.Subscription
	consumers []*busConsumer

	stop      context.CancelFunc
	done      chan struct{}
	lastSweep time.Time   // heartbeats goroutine only (presence.go)
	sweeping  atomic.Bool // a sweep runs
	sweepDue  atomic.Bool // a node left while a sweep ran: sweep again

	ownMu sync.Mutex
	own   map[string]ownEntry // presence entries this node wrote (presence_batch.go)

	// The job sender (bus_sender.go).
	outMu      sync.RWMutex
	outClosed  bool
	outbox     chan *nats.Msg
	senderDone chan struct{}

	// The online devices, mirrored from the presence bucket (online.go).
	onlineOnce sync.Once
	online     *onlineWatch
}

// ErrUsed: the key was used before (UseOnce).
var ErrUsed = errors.New("cluster: already used")

// Connect connects to NATS, creates (or opens) the buckets, writes the
// first heartbeat and starts the heartbeat loop.
func Connect(ctx context.Context, cfg Config) (*Node, error) {
	if len(cfg.URLs) == 0 || cfg.Node == "" {
		return nil, errors.New("cluster: need NATS URLs and a node name")
	}
	if !tokenValid(cfg.Node) {
		return nil, fmt.Errorf("cluster: node name %q: want letters, digits, - and _", cfg.Node)
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "rampart"
	}
	if !tokenValid(cfg.Cluster) {
		return nil, fmt.Errorf("cluster: cluster name %q: want letters, digits, - and _", cfg.Cluster)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = 5 * time.Second
	}
	if cfg.NonceTTL <= 0 {
		cfg.NonceTTL = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	denied := &permissionLog{}
	authOpts, err := cfg.Auth.options()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("rampart " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed by Close
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(denied.handler(log.Error)),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS reconnected", "server", c.ConnectedUrlRedacted())
			if cfg.OnReconnect != nil {
				go cfg.OnReconnect()
			}
		}),
	}
	if cfg.OnlyListed {
		opts = append(opts, nats.IgnoreDiscoveredServers())
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), append(opts, authOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", strings.Join(cfg.URLs, ","), cfg.Auth.explain(err))
	}
	n := &Node{cfg: cfg, nc: nc, denied: denied, started: cfg.Now().UTC(), prefix: "rampart." + cfg.Cluster + ".", own: map[string]ownEntry{},
		outbox: make(chan *nats.Msg, busQueue), senderDone: make(chan struct{})}
	n.live.Store(1)
	if n.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	// A NATS cluster still forming (servers starting together) answers
	// "no suitable peers" or times out for a while: retried until ctx ends.
	bucket := func(name string, ttl time.Duration, history uint8) (jetstream.KeyValue, error) {
		for {
			kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: cfg.Cluster + "-" + name, TTL: ttl, History: history, Replicas: cfg.Replicas, Storage: jetstream.FileStorage})
			if err == nil {
				return kv, nil
			}
			log.Debug("bucket not ready", "bucket", name, "err", err)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("cluster: bucket %s: %w", name, err)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if n.nodes, err = bucket("nodes", cfg.NodeTTL, 1); err == nil {
		if n.presence, err = bucket("presence", 0, 1); err == nil {
			n.nonces, err = bucket("nonces", 2*cfg.NonceTTL, 1)
		}
	}
	for err == nil {
		if err = n.createBus(ctx); err == nil {
			break
		}
		log.Debug("bus stream not ready", "err", err)
		select {
		case <-ctx.Done():
			err = fmt.Errorf("cluster: bus stream: %w", err)
		case <-time.After(250 * time.Millisecond):
			err = nil
		}
	}
	if err == nil {
		err = n.beat(ctx)
	}
	if err == nil {
		err = n.probePermissions(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, n.explainDenied(err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	go n.heartbeats(hctx)
	go n.runSender()
	return n, nil
}

// tokenValid: a name usable as one subject token and in a bucket name.
func tokenValid(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Conn is the NATS connection (tests, readiness).
func (n *Node) Conn() *nats.Conn { return n.nc }

// Connected reports whether the NATS connection is up now.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Close stops the heartbeat, removes this node from the registry (so that
// the others count it out at once rather than after NodeTTL) and closes
// the connection.
func (n *Node) Close() error {
	if n.stop == nil {
		return nil
	}
	n.stop()
	<-n.done
	n.stopOnline()
	n.stopSender(2 * time.Second)
	n.stopConsumers()
	n.mu.Lock()
	for _, s := range n.subs {
		s.Unsubscribe()
	}
	n.subs = nil
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n.nodes.Delete(ctx, n.cfg.Node)
	n.nc.Drain()
	n.stop = nil
	return nil
}

func (n *Node) heartbeats(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var before []NodeInfo
		if p := n.seen.Load(); p != nil {
			before = *p
		}
		bctx, cancel := context.WithTimeout(ctx, n.cfg.Heartbeat*2)
		err := n.beat(bctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				n.cfg.Log.Warn("cluster heartbeat failed", "err", err)
			}
			continue
		}
		n.maybeSweep(ctx, before, *n.seen.Load())
	}
}

// beat writes this node's entry and counts the live nodes.
func (n *Node) beat(ctx context.Context) error {
	mqtt, enroll := n.advertised()
	info := NodeInfo{Name: n.cfg.Node, Version: n.cfg.Version, MQTT: mqtt, Enroll: enroll, Started: n.started, Heartbeat: n.cfg.Now().UTC(), Protocol: protocol}
	if n.cfg.Devices != nil {
		info.Devices = n.cfg.Devices()
	}
	if n.cfg.Leases != nil {
		info.Leases = n.cfg.Leases()
	}
	b, _ := json.Marshal(info)
	if _, err := n.nodes.Put(ctx, n.cfg.Node, b); err != nil {
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	all, err := n.Nodes(ctx)
	if err != nil {
		return err
	}
	n.live.Store(int64(max(len(all), 1)))
	n.seen.Store(&all)
	n.older.Store(anyOlder(all))
	return nil
}

// MQTTEndpoints are the MQTT endpoints the live nodes advertise, as of
// the last heartbeat: this node's first, then the others' by node name.
// The enrollment answer gives them to devices, which reconnect to another
// when theirs goes away.
func (n *Node) MQTTEndpoints() []string {
	mqtt, _ := n.advertised()
	return append(append([]string{}, mqtt...), n.PeerMQTT()...)
}

// PeerMQTT are the MQTT endpoints the other live nodes advertised at the
// last heartbeat: where a draining node sends its devices.
func (n *Node) PeerMQTT() []string {
	var out []string
	if all := n.seen.Load(); all != nil {
		for _, o := range *all {
			if o.Name != n.cfg.Node {
				out = append(out, o.MQTT...)
			}
		}
	}
	return out
}

// PeerEnroll are the enrollment endpoints the other live nodes advertised
// at the last heartbeat: what this node's job signer certifies.
func (n *Node) PeerEnroll() []string {
	var out []string
	if all := n.seen.Load(); all != nil {
		for _, o := range *all {
			if o.Name != n.cfg.Node && o.Enroll != "" {
				out = append(out, o.Enroll)
			}
		}
	}
	return out
}

// SetAdvertised replaces the endpoints this node advertises (a listener
// bound to port 0 learns its port when it listens); the next heartbeat
// carries them.
func (n *Node) SetAdvertised(mqtt []string, enroll string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cfg.MQTT, n.cfg.Enroll = append([]string{}, mqtt...), enroll
}

func (n *Node) advertised() ([]string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg.MQTT, n.cfg.Enroll
}

// Live is the number of live nodes at the last heartbeat, this one
// included (so at least 1).
func (n *Node) Live() int { return int(n.live.Load()) }

// Nodes lists the live nodes (heard from within NodeTTL), by name.
func (n *Node) Nodes(ctx context.Context) ([]NodeInfo, error) {
	l, err := n.nodes.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	var out []NodeInfo
	for k := range l.Keys() {
		e, err := n.nodes.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			l.Stop()
			return nil, fmt.Errorf("cluster: node %s: %w", k, err)
		}
		var ni NodeInfo
		if json.Unmarshal(e.Value(), &ni) != nil {
			continue
		}
		out = append(out, ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// presenceValue is a presence entry: the node holding the device's
// session and when that session started there.
type presenceValue struct {
	Node    string `json:"node"`
	Started int64  `json:"started_ns"`
}

// presenceKey maps a device ID to a KV key: device IDs may hold
// characters a key may not, so a key is the ID's hex.
func presenceKey(deviceID string) string { return fmt.Sprintf("d%x", deviceID) }

// SessionStarted records that this node holds deviceID's session, started
// at started.
func (n *Node) SessionStarted(ctx context.Context, deviceID string, started time.Time) error {
	b, _ := json.Marshal(presenceValue{Node: n.cfg.Node, Started: started.UnixNano()})
	if _, err := n.presence.Put(ctx, presenceKey(deviceID), b); err != nil {
		return fmt.Errorf("cluster: presence: %w", err)
	}
	return nil
}

// SessionEnded removes deviceID's presence entry if it is still the one
// this node wrote for the session that started at started: a newer
// session, here or on another node, keeps its entry (the delete is
// conditional on the entry's revision).
func (n *Node) SessionEnded(ctx context.Context, deviceID string, started time.Time) error {
	k := presenceKey(deviceID)
	e, err := n.presence.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: presence: %w", err)
	}
	var v presenceValue
	if json.Unmarshal(e.Value(), &v) != nil || v.Node != n.cfg.Node || v.Started != started.UnixNano() {
		return nil
	}
	err = n.presence.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
	if err != nil && !isRevisionConflict(err) {
		return fmt.Errorf("cluster: presence: %w", err)
	}
	return nil
}

func isRevisionConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Holder is the node holding deviceID's session, if a live node does.
func (n *Node) Holder(ctx context.Context, deviceID string) (string, bool, error) {
	e, err := n.presence.Get(ctx, presenceKey(deviceID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("cluster: presence: %w", err)
	}
	var v presenceValue
	if json.Unmarshal(e.Value(), &v) != nil {
		return "", false, nil
	}
	if _, err := n.nodes.Get(ctx, v.Node); err != nil {
		return "", false, nil // the holder is gone: its sessions with it
	}
	return v.Node, true, nil
}

// UseOnce records key as used in the nonce bucket (kept for twice the
// nonce lifetime); ErrUsed when any node recorded it before.
func (n *Node) UseOnce(ctx context.Context, key string) error {
	_, err := n.nonces.Create(ctx, key, nil)
	if isRevisionConflict(err) {
		return ErrUsed
	}
	if err != nil {
		return fmt.Errorf("cluster: nonce: %w", err)
	}
	return nil
}

// Messages between nodes. Each carries the sending node's name, so that
// a node skips what it sent itself (it applied it locally already).
// maxBusMessage bounds a message between nodes: a job (at most
// deviceproto.MaxJobSize, base64 in JSON) with its fields fits well
// within it; NATS's own limit is 1 MiB.
const maxBusMessage = 16 << 10

// maxDeviceID bounds the device a message names (the fleet's IDs are a
// hex digest; the store refuses longer ones).
const maxDeviceID = 256

type message struct {
	From    string    `json:"from"`
	Device  string    `json:"device,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Payload []byte    `json:"payload,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	What    string    `json:"what,omitempty"`
	// GraceMS is, in a superseded message, how long the session of the
	// old certificate may live on (Node.Superseded); a node of the
	// previous release ignores it and ends the session at once.
	GraceMS int64 `json:"grace_ms,omitempty"`
	// Copy marks a core NATS copy of a bus message, sent for the nodes
	// of the previous release (mixed.go): the others read the bus.
	Copy bool `json:"copy,omitempty"`
}

func (n *Node) publish(subject string, m message) error {
	m.From = n.cfg.Node
	b, _ := json.Marshal(m)
	if err := n.nc.Publish(n.prefix+subject, b); err != nil {
		return fmt.Errorf("cluster: publish %s: %w", subject, err)
	}
	return nil
}

func (n *Node) subscribe(subject string, f func(message)) error {
	s, err := n.nc.Subscribe(n.prefix+subject, func(msg *nats.Msg) {
		var m message
		// Anything on the bus could have sent it: bounded before it is
		// decoded, and a device message must name a device.
		if len(msg.Data) > maxBusMessage || json.Unmarshal(msg.Data, &m) != nil || m.From == n.cfg.Node {
			return
		}
		if subject != SubjectChanged && (m.Device == "" || len(m.Device) > maxDeviceID || m.Copy) {
			return
		}
		f(m)
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", subject, err)
	}
	// The subscription is registered with the server before return, so
	// a message published after this call reaches it.
	if err := n.nc.Flush(); err != nil {
		s.Unsubscribe()
		return fmt.Errorf("cluster: subscribe %s: %w", subject, err)
	}
	// A denied subscription is reported before the flush's answer.
	if err := n.deniedNow(n.prefix + subject); err != nil {
		s.Unsubscribe()
		return fmt.Errorf("cluster: subscribe %s: %w", subject, err)
	}
	n.mu.Lock()
	n.subs = append(n.subs, s)
	n.mu.Unlock()
	return nil
}

// Subjects, under rampart.<cluster>.
const (
	SubjectDisconnect = "disconnect"
	SubjectJobs       = "jobs"
	SubjectChanged    = "changed"
	SubjectSuperseded = "superseded"
)

// Disconnect asks every other node to end deviceID's session if it holds
// it (the caller ends its own). It returns once the bus stream has stored
// the message, or, when the stream does not answer within a few seconds,
// once it is sent on core NATS (bus.go, publishUrgent).
func (n *Node) Disconnect(deviceID, reason string) error {
	m := message{Reason: reason}
	if err := n.publishUrgent(SubjectDisconnect, deviceID, m); err != nil {
		return err
	}
	n.copyForOlder(SubjectDisconnect, deviceID, m)
	return nil
}

// OnDisconnect calls f for each disconnect another node asks for.
func (n *Node) OnDisconnect(f func(deviceID, reason string)) error {
	return n.onDevice(SubjectDisconnect, func(m message) { f(m.Device, m.Reason) })
}

// Superseded asks every other node to end deviceID's sessions that use a
// certificate other than serial (the device enrolled again), after grace
// (0: at once; a CA rotation's or the device's own renewal, see
// fleet.Server.supersedeGrace). Every enrollment sends one, and no one
// waits for it: it is queued for the bus stream like a job
// (bus_sender.go), not published while the enrollment waits. (The
// certificate it supersedes is revoked in the store already, so the
// device's old sessions are refused at their next connection and ended
// by a node's recheck whatever becomes of the message.)
func (n *Node) Superseded(deviceID, serial string, grace time.Duration) error {
	m := message{Reason: serial, GraceMS: max(0, grace.Milliseconds())}
	msg, err := n.busMsg(SubjectSuperseded, deviceID, m)
	if err != nil {
		return err
	}
	if err := n.enqueue(msg); err != nil {
		return err
	}
	n.copyForOlder(SubjectSuperseded, deviceID, m)
	return nil
}

// maxGraceMS bounds a superseded message's grace before it is converted
// (no overflow); the receiver bounds it again, to its own longest.
const maxGraceMS = int64(time.Hour / time.Millisecond)

// OnSuperseded calls f for each superseded certificate another node
// announces, with the grace it gave the old sessions (never negative;
// the caller bounds it).
func (n *Node) OnSuperseded(f func(deviceID, serial string, grace time.Duration)) error {
	return n.onDevice(SubjectSuperseded, func(m message) {
		f(m.Device, m.Reason, time.Duration(min(max(0, m.GraceMS), maxGraceMS))*time.Millisecond)
	})
}

// Job gives every other node deviceID's job (payload, valid until
// expires) to store as retained on its broker. It returns once the job is
// queued for the bus stream, in order with the jobs queued before
// (bus_sender.go); it waits only while the queue is full.
func (n *Node) Job(deviceID string, payload []byte, expires time.Time) error {
	m := message{Payload: payload, Expires: expires}
	msg, err := n.busMsg(SubjectJobs, deviceID, m)
	if err != nil {
		return err
	}
	if err := n.enqueue(msg); err != nil {
		return err
	}
	n.copyForOlder(SubjectJobs, deviceID, m)
	return nil
}

// OnJob calls f for each job another node publishes (a job past its
// expiry is skipped).
func (n *Node) OnJob(f func(deviceID string, payload []byte, expires time.Time)) error {
	return n.onDevice(SubjectJobs, func(m message) { f(m.Device, m.Payload, m.Expires) })
}

// Changed tells every other node that what changed (a trust list, the
// configuration, a release) so that they drop what they cached of it.
func (n *Node) Changed(what string) error {
	return n.publish(SubjectChanged, message{What: what})
}

// OnChanged calls f for each change another node announces.
func (n *Node) OnChanged(f func(what string)) error {
	return n.subscribe(SubjectChanged, func(m message) { f(m.What) })
}

// Check connects to the NATS servers at urls and asks for the JetStream
// account information, changing nothing: --check-config's reachability
// check, with the node's credentials and TLS. It returns the server it
// reached.
func Check(ctx context.Context, urls []string, auth Auth) (string, error) {
	authOpts, err := auth.options()
	if err != nil {
		return "", err
	}
	nc, err := nats.Connect(strings.Join(urls, ","), append([]nats.Option{nats.Name("rampart check-config"), nats.Timeout(5 * time.Second)}, authOpts...)...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			return "", fmt.Errorf("cluster: NATS at %s unreachable: %w", strings.Join(urls, ","), err)
		}
		return "", fmt.Errorf("cluster: NATS at %s: connection refused: %w", strings.Join(urls, ","), auth.explain(err))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("cluster: jetstream: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return "", fmt.Errorf("cluster: NATS at %s reachable, but JetStream is not available: %w", nc.ConnectedUrlRedacted(), err)
	}
	return nc.ConnectedUrlRedacted(), nil
}
