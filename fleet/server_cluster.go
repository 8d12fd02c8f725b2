package fleet

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"rampart/adminapi"
	"rampart/fleet/ca"
	"rampart/fleet/cluster"
	"rampart/fleet/enroll"
	"rampart/fleet/store"
	"rampart/internal/secfile"
)

// A server with a cluster: section is one node of several sharing one
// PostgreSQL database and one NATS system (docs/scale-out.md). What a
// single node keeps in its memory is shared here:
//
//   - the CA lives in the store (openSharedCA), so every node issues under
//     it and derives the same secrets from it (nonce key, campaign keys);
//   - used nonces live in the cluster's KV bucket (clusterNonces);
//   - presence: which node holds which device's session (presence);
//   - a disconnect (revoke, suspend, decommission) and a superseded
//     certificate reach the node holding the session (cluster messages);
//   - a campaign job is stored on every node's broker;
//   - per-source budgets are divided by the live node count (shares);
//   - telemetry compaction and retention and audit retention run on the
//     node holding the store lease MaintenanceLease (leaseKeeper).

// MaintenanceLease is the store lease whose holder runs telemetry
// compaction, telemetry retention and audit retention.
const MaintenanceLease = "telemetry-maintenance"

// Lease timing: renewed every leaseRenew, lost leaseTTL after the last
// renewal (a dead holder's loops move within leaseTTL + leaseRenew).
const (
	leaseTTL   = 3 * time.Second
	leaseRenew = time.Second
)

// buildVersion is the module version this binary was built from.
func buildVersion() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("%s (schema %d)", v, store.SchemaVersion())
}

// openSharedCA opens the fleet CA the nodes of a cluster share, from the
// store. When the store holds none, this node stores the CA of its
// data_dir (a single node becoming the first of a cluster) or a new one;
// the store keeps the first stored (PutFleetCAIfAbsent: nodes starting
// together store exactly one) and every node loads that one. The key is
// stored encrypted under the CA passphrase, as in the key file. A new key
// is made only under a passphrase that passes ca.CheckPassphrase (weak is
// its verdict); an existing one opens under a weaker one (the caller warns).
func openSharedCA(ctx context.Context, db *store.DB, dir string, pass []byte, weak error, o ca.Options, log *slog.Logger) (c *ca.CA, certFile string, err error) {
	certPEM, keyPEM, err := db.FleetCA(ctx)
	if errors.Is(err, store.ErrNotFound) {
		fc, fk, local, ferr := ca.ReadFiles(dir)
		if ferr != nil {
			return nil, "", ferr
		}
		if local {
			// Checked before it is shared: a wrong passphrase stops here.
			if _, err := ca.Load(fc, fk, pass, o); err != nil {
				return nil, "", err
			}
			certPEM, keyPEM = fc, fk
		} else if weak != nil {
			return nil, "", fmt.Errorf("fleet: CA passphrase: %w; generate one, e.g. openssl rand -base64 24", weak)
		} else if _, certPEM, keyPEM, err = ca.Generate(pass, o); err != nil {
			return nil, "", err
		}
		stored, perr := db.PutFleetCAIfAbsent(ctx, certPEM, keyPEM)
		if perr != nil {
			return nil, "", perr
		}
		if stored {
			log.Info("fleet CA stored for the cluster", "from", map[bool]string{true: "data_dir", false: "new"}[local])
		}
		certPEM, keyPEM, err = db.FleetCA(ctx)
	}
	if err != nil {
		return nil, "", err
	}
	if c, err = ca.Load(certPEM, keyPEM, pass, o); err != nil {
		return nil, "", err
	}
	certFile = filepath.Join(dir, ca.CertFile)
	if fc, _, local, _ := ca.ReadFiles(dir); local && !bytes.Equal(fc, certPEM) {
		log.Warn("the CA files in data_dir are not the cluster's CA: the store's is used, and clients need the certificate of another node's data_dir as --ca", "dir", dir)
		return c, "", nil
	}
	// data_dir holds the cluster's CA certificate, the file every client
	// needs as --ca, as a single server's does; the key stays in the
	// store only.
	if fc, err := os.ReadFile(certFile); err != nil || !bytes.Equal(fc, certPEM) {
		if err := secfile.WriteFile(certFile, certPEM); err != nil {
			return nil, "", fmt.Errorf("fleet: data_dir: %w", err)
		}
	}
	return c, certFile, nil
}

// Used nonces in a cluster are recorded in the enrollment's own store
// transaction (enroll.Config.NoncesInStore): the primary key of one
// PostgreSQL database makes a use single across the nodes with no round
// trip besides the transaction every enrollment commits anyway (before,
// a JetStream KV Create per enrollment). The node holding the maintenance
// lease deletes the expired ones (pruneUsedNonces).

// olderNodesNonces is the used-nonce set of the previous release's nodes
// (the cluster's nonce bucket) for a clustered server, nil otherwise. It
// records a nonce there only while such a node is live
// (cluster.Node.UseOnceWithOlder): during a rolling upgrade a nonce is
// then single across both releases; after it, no round trip.
func (s *Server) olderNodesNonces(clustered bool) enroll.UsedNonceSet {
	if !clustered {
		return nil
	}
	return olderNodesNonces{s}
}

type olderNodesNonces struct{ s *Server }

func (o olderNodesNonces) Use(ctx context.Context, id [16]byte, _ time.Time) error {
	if o.s.node == nil {
		return nil // not joined yet: nothing served
	}
	err := o.s.node.UseOnceWithOlder(ctx, hex.EncodeToString(id[:]))
	if errors.Is(err, cluster.ErrUsed) {
		return enroll.ErrNonceReplayed
	}
	return err
}

// pruneUsedNonces deletes the used nonces that expired, every minute,
// until ctx ends.
func (s *Server) pruneUsedNonces(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.db.PruneUsedNonces(ctx, s.opts.Now()); err != nil {
			s.log.Warn("expired nonces not pruned", "err", err)
		} else if n > 0 {
			s.log.Debug("expired nonces pruned", "rows", n)
		}
	}
}

// joinCluster connects this node to NATS (cluster.Connect) and subscribes
// to what the other nodes send.
func (s *Server) joinCluster(ctx context.Context) error {
	cl := s.cfg.Cluster
	var err error
	s.node, err = cluster.Connect(ctx, cluster.Config{URLs: cl.NATS, Auth: cl.NATSAuth(), Node: cl.Node, Cluster: cl.Name, Version: s.version,
		MQTT: cl.Advertise.MQTT, Enroll: cl.Advertise.Enroll, Replicas: cl.Replicas, NonceTTL: s.cfg.NonceTTL.Duration, OnlyListed: s.opts.ClusterOnlyListedNATS,
		Devices: func() int64 {
			if b := s.brokerRef.Load(); b != nil {
				return b.Connected()
			}
			return 0
		},
		Leases: s.heldLeases, OnReconnect: s.recheckSessions, Log: s.log.With("component", "cluster"), Now: s.opts.Now})
	return err
}

// recheckSessions checks this node's sessions against the store after it
// was cut off from NATS: a disconnect another node sent meanwhile was
// lost, the store's record is not.
func (s *Server) recheckSessions() {
	select {
	case <-s.ready:
	default:
		return // not serving yet: no session to check
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := s.broker.Recheck(ctx)
	if err != nil {
		s.log.Warn("sessions rechecked after a NATS outage, with errors", "ended", n, "err", err)
		return
	}
	s.log.Info("sessions rechecked after a NATS outage", "ended", n)
}

// subscribeCluster applies, on this node, what the other nodes publish.
func (s *Server) subscribeCluster() error {
	return errors.Join(
		s.node.OnDisconnect(func(id, reason string) { s.broker.Disconnect(id, reason) }),
		s.node.OnSuperseded(s.supersededElsewhere),
		s.node.OnJob(func(id string, payload []byte, exp time.Time) {
			if err := s.broker.PublishJob(id, payload, exp); err != nil {
				s.log.Warn("job from another node not stored", "device", id, "err", err)
			}
		}),
		s.node.OnChanged(func(what string) { s.log.Debug("changed on another node", "what", what) }),
	)
}

// supersededElsewhere applies a certificate another node issued
// (Broker.Supersede), unless that certificate was itself superseded since
// (revoked in the store: each enrollment revokes the device's others in
// its transaction). The bus orders one node's messages for a device, not
// two nodes': a device that renewed at one node and then at another may
// have the older renewal's message arrive last, and applied it would end
// the session of the newest certificate and, for a minute, refuse every
// new one on this node as superseded by the older (300-device runs:
// devices lost for the rest of a campaign). A store read per message from
// another node; a read that fails applies the message (as before). The
// grace the issuing node gave the old session (supersedeGrace) applies
// here too, bounded by the longest this node would give.
func (s *Server) supersededElsewhere(deviceID, serial string, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := s.db.Certificate(ctx, serial); err == nil && !c.Revoked.IsZero() {
		s.log.Info("superseded certificate message out of date: ignored", "device", deviceID, "serial", serial)
		return
	}
	s.broker.SupersedeAfter(deviceID, serial, min(grace, max(renewalGrace, rotationGrace)))
}

// disconnect ends deviceID's session on this node and, in a cluster, on
// the node that holds it (the admin API's Disconnect). It reports whether
// this node dropped a connection.
func (s *Server) disconnect(deviceID, reason string) bool {
	was := s.broker.Disconnect(deviceID, reason)
	if s.node != nil {
		if err := s.node.Disconnect(deviceID, reason); err != nil {
			s.log.Error("disconnect not sent to the other nodes", "device", deviceID, "err", err)
		}
	}
	return was
}

// supersede ends the sessions of deviceID that use a certificate other
// than serial, on every node, after the grace supersedeGrace gives them
// (renewal: the device's own renewal).
func (s *Server) supersede(deviceID, serial string, renewal bool) {
	grace := s.supersedeGrace(deviceID, renewal)
	s.broker.SupersedeAfter(deviceID, serial, grace)
	if s.node != nil {
		if err := s.node.Superseded(deviceID, serial, grace); err != nil {
			s.log.Error("superseded certificate not sent to the other nodes", "device", deviceID, "err", err)
		}
	}
}

// publishJob stores a job as retained on this node's broker and, in a
// cluster, on every other node's: the device gets it wherever it is
// connected, and wherever it reconnects.
func (s *Server) publishJob(deviceID string, payload []byte, expires time.Time) error {
	err := s.broker.PublishJob(deviceID, payload, expires)
	if s.node != nil {
		err = errors.Join(err, s.node.Job(deviceID, payload, expires))
	}
	return err
}

// presence records in the cluster which node holds each device's session.
// The writes are made off the broker's goroutines by a few workers, one
// device always on the same worker so that its start and end stay in
// order, in batches (collectPresence); a full queue drops the record
// (logged): presence informs, the decisions (disconnects) reach every node
// anyway.
type presence struct {
	node    *cluster.Node
	log     *slog.Logger
	mu      sync.RWMutex // closed and the queues' closing
	closed  bool
	queues  []chan presenceEvent
	wg      sync.WaitGroup
	dropped atomic.Int64
}

type presenceEvent struct {
	device  string
	started time.Time
	up      bool
}

func newPresence(n *cluster.Node, log *slog.Logger) *presence {
	p := &presence{node: n, log: log}
	for range 4 {
		q := make(chan presenceEvent, 16384)
		p.queues = append(p.queues, q)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for e := range q {
				batch := collectPresence(q, e)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := n.SessionsChanged(ctx, batch)
				cancel()
				if err != nil {
					log.Warn("presence not recorded", "changes", len(batch), "err", err)
				}
			}
		}()
	}
	return p
}

// A presence worker writes what arrived within presenceTick of the first
// change (at most presenceBatch changes) as one batch: coalesced (a
// session that came and went within it is not written) and pipelined
// (one round trip to JetStream for the batch, cluster.SessionsChanged).
// A reconnection storm after a node's death is thousands of session
// starts in a second: batched, they cost a few round trips a worker.
const (
	presenceTick  = 50 * time.Millisecond
	presenceBatch = 1024
)

// collectPresence is first and what else q holds within presenceTick.
func collectPresence(q chan presenceEvent, first presenceEvent) []cluster.PresenceChange {
	batch := []cluster.PresenceChange{{Device: first.device, Started: first.started, Up: first.up}}
	t := time.NewTimer(presenceTick)
	defer t.Stop()
	for len(batch) < presenceBatch {
		select {
		case e, ok := <-q:
			if !ok {
				return batch
			}
			batch = append(batch, cluster.PresenceChange{Device: e.device, Started: e.started, Up: e.up})
		case <-t.C:
			return batch
		}
	}
	return batch
}

// note queues a session's start or end (broker.Config.OnSession).
func (p *presence) note(device string, started time.Time, up bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return // a session's end reported after the broker closed
	}
	h := fnv.New32a()
	h.Write([]byte(device))
	select {
	case p.queues[h.Sum32()%uint32(len(p.queues))] <- presenceEvent{device, started, up}:
	default:
		if p.dropped.Add(1)%1000 == 1 {
			p.log.Warn("presence queue full: records dropped", "dropped", p.dropped.Load())
		}
	}
}

// close writes what is queued and stops the workers.
func (p *presence) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, q := range p.queues {
			close(q)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// runShares keeps each per-source budget divided by the live node count.
func (s *Server) runShares(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := 0
	for {
		if n := s.node.Live(); n != last {
			s.enrollFails.SetShare(n)
			s.adminFails.SetShare(n)
			s.enroll.SetShare(n)
			if last != 0 {
				s.log.Info("per-source budgets divided among the live nodes", "nodes", n)
			}
			last = n
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseKeeper acquires and renews a store lease for this node; while held,
// it runs work under a context that ends when the lease is lost (or the
// keeper stops).
type leaseKeeper struct {
	db     *store.DB
	name   string
	holder string
	log    *slog.Logger
	epoch  atomic.Int64 // while held; 0 when not
}

// Leader reports the epoch of the lease when this node holds it (the
// campaign engine's Config.Leader has this form).
func (k *leaseKeeper) Leader() (int64, bool) {
	e := k.epoch.Load()
	return e, e != 0
}

// run holds the lease whenever it can until ctx ends, running work while
// it does; at the end it releases the lease so another node takes it at
// once.
func (k *leaseKeeper) run(ctx context.Context, work func(context.Context)) {
	var (
		stopWork context.CancelFunc
		workDone chan struct{}
		lastOK   time.Time
	)
	stop := func() {
		if stopWork != nil {
			stopWork()
			<-workDone
			stopWork = nil
		}
		k.epoch.Store(0)
	}
	start := func(work func(context.Context)) (context.CancelFunc, chan struct{}) {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			work(wctx)
		}()
		return cancel, done
	}
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, leaseRenew)
		l, err := k.db.AcquireLease(actx, k.name, k.holder, leaseTTL)
		cancel()
		switch {
		case err != nil:
			// Unsure whether it is still ours: stop before it could have
			// expired.
			if stopWork != nil && time.Since(lastOK) > leaseTTL-leaseRenew {
				k.log.Warn("lease not renewed: work stopped", "lease", k.name, "err", err)
				stop()
			}
		case l.Held:
			lastOK = time.Now()
			if stopWork == nil || k.epoch.Load() != l.Epoch {
				stop()
				k.epoch.Store(l.Epoch)
				k.log.Info("lease acquired", "lease", k.name, "epoch", l.Epoch)
				stopWork, workDone = start(work)
			}
		default:
			if stopWork != nil {
				k.log.Warn("lease lost", "lease", k.name, "holder", l.Holder)
			}
			stop()
		}
		select {
		case <-ctx.Done():
			stop()
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			k.db.ReleaseLease(rctx, k.name, k.holder)
			cancel()
			return
		case <-t.C:
		}
	}
}

// heldLeases names the leases this node holds (the registry's entry).
func (s *Server) heldLeases() []string {
	var out []string
	for _, k := range s.leases {
		if _, ok := k.Leader(); ok {
			out = append(out, k.name)
		}
	}
	return out
}

// nodes lists the live nodes for GET /api/v1/nodes: the cluster's
// registry, or this server alone; each with the store leases it holds.
func (s *Server) nodes(ctx context.Context) ([]adminapi.Node, error) {
	leases, err := s.db.Leases(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string][]string{}
	for _, l := range leases {
		if l.Held {
			held[l.Holder] = append(held[l.Holder], l.Name)
		}
	}
	if s.node == nil {
		name, _ := os.Hostname()
		return []adminapi.Node{{Name: name, Version: s.version, Started: s.started, Devices: s.broker.Connected(),
			Leases: append([]string{}, held[name]...), Heartbeat: s.opts.Now().UTC(), MQTT: []string{s.MQTTAddr()}, Enroll: s.EnrollURL()}}, nil
	}
	list, err := s.node.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.Node, 0, len(list))
	for _, n := range list {
		out = append(out, adminapi.Node{Name: n.Name, Version: n.Version, Started: n.Started, Devices: n.Devices,
			Leases: append([]string{}, held[n.Name]...), Heartbeat: n.Heartbeat, MQTT: n.MQTT, Enroll: n.Enroll})
	}
	return out, nil
}

// MQTTEndpoints are the MQTT endpoints devices may use: in a cluster
// those every live node advertises (this node's first), else this
// server's own address. The enrollment answer carries them.
func (s *Server) MQTTEndpoints() []string {
	if s.node != nil {
		return s.node.MQTTEndpoints()
	}
	return []string{s.MQTTAddr()}
}

// advertiseBound replaces default advertised endpoints (the listen
// addresses) by the addresses bound, once the listeners are open: a listen
// address with port 0 or an unspecified host is no endpoint for a device.
func (s *Server) advertiseBound() {
	cl := s.cfg.Cluster
	mqtt, enroll := cl.Advertise.MQTT, cl.Advertise.Enroll
	if len(mqtt) == 1 && mqtt[0] == s.cfg.Listen.MQTT {
		mqtt = []string{s.MQTTAddr()}
	}
	if enroll == "https://"+s.cfg.Listen.Enroll {
		enroll = s.EnrollURL()
	}
	s.node.SetAdvertised(mqtt, enroll)
}

// onlineDevices are the devices with an MQTT session: on a cluster, on any
// live node (the presence bucket, mirrored in memory: cluster.Online); on
// one node, or while NATS does not answer, this node's own sessions.
func (s *Server) onlineDevices() []string {
	if s.node == nil {
		return s.broker.Online()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids, err := s.node.Online(ctx)
	if err != nil {
		s.log.Warn("online devices: the cluster's presence is not readable; showing this node's sessions", "err", err)
		return s.broker.Online()
	}
	return ids
}
