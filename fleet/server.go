package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/api"
	"rampart/fleet/broker"
	"rampart/fleet/ca"
	"rampart/fleet/campaign"
	"rampart/fleet/cluster"
	"rampart/fleet/console"
	"rampart/fleet/enroll"
	"rampart/fleet/internal/burst"
	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
	"rampart/fleet/transfer"
	"rampart/hsm"
	"rampart/internal/secfile"
	"rampart/internal/tlsconf"
)

// Options are what the process gives the server besides its Config.
type Options struct {
	// Passphrase unlocks the CA key; when nil it is read from the
	// environment variable named by Config.CA.PassphraseEnv.
	Passphrase []byte
	Rand       io.Reader        // required
	Now        func() time.Time // time.Now when nil
	// Campaign tunes the campaign engine (tests: Tick, BytesPerSecond,
	// Tamper); Store, Publish, ImageBase, Now and Log are set by New.
	Campaign campaign.Config
	// Log overrides the logger built from Config.Log (written to LogOutput).
	Log       *slog.Logger
	LogOutput io.Writer // os.Stderr when nil
	// ImageEndpoints are https://host[:port] endpoints, besides the
	// enrollment listener, that devices may download images from (a
	// simulator's image server, a CDN): they are certified in the job
	// signer's certificate, the only place devices learn them from.
	ImageEndpoints []string
	// JobTTL is how long a signed job stays valid (deviceproto.DefaultJobTTL
	// when 0; tests shorten it).
	JobTTL time.Duration
	// RenewalGrace is how long the session of a certificate its device
	// replaced by a renewal lives on (0: none, the default, see
	// supersedeGrace; never more than renewalGrace).
	RenewalGrace time.Duration
	// ClusterOnlyListedNATS: connect only to the NATS URLs of the
	// configuration, not to the servers the NATS cluster advertises
	// (tests cut a node off with it).
	ClusterOnlyListedNATS bool
	// Version is what this node reports in the cluster's registry (the
	// build's module version and schema when empty).
	Version string

	// Scale-out (drain.go). AdvertiseMQTT are the MQTT endpoints
	// (host:port) devices may use, from the configuration
	// (cluster.advertise.mqtt); PeerMQTT, when set, returns those of the
	// other live nodes (the cluster's node registry). The enrollment
	// answer names both (or, when both are empty, this node's own MQTT
	// listener unless it listens on every address); a draining node
	// refers its MQTT 5 devices to one of PeerMQTT's, else of
	// AdvertiseMQTT's.
	AdvertiseMQTT []string
	PeerMQTT      func() []string
	// Ready is a readiness check besides the store's (the cluster's bus),
	// answered by /readyz; nil: none.
	Ready func(ctx context.Context) error
}

// Server is a fleet server.
type Server struct {
	cfg  *Config
	opts Options
	log  *slog.Logger
	db   *store.DB
	ca   *ca.CA
	// caKey is the CA key in a PKCS#11 token (ca.key), closed at Shutdown.
	caKey *hsm.Key
	// caCertFile is the CA certificate clients need as --ca (absolute;
	// "" when data_dir holds another CA than the cluster's).
	caCertFile string
	enroll     *enroll.Service
	transfer   *transfer.Service // ownership transfer (server_transfer.go)
	origCA     *ca.CA            // the CA before any rotation (server_carotate.go)
	sealCA     *ca.CA            // the CA of the latest emergency rotation, which derives the sealing secrets (server_caseal.go)
	rot        *rotation         // the CA rotation, nil without one
	pass       []byte            // the CA passphrase: a rotation encrypts the successor's key
	writer     *telemetry.Writer
	broker     *broker.Broker
	api        *api.API
	console    *console.Console
	camps      *campaign.Engine
	jobs       *deviceproto.JobSigner
	metrics    *metrics
	tlsCert    tls.Certificate
	// refusals coalesces the refusal audit entries of every listener
	// (enrollment, admin API, image downloads, MQTT) per source and kind:
	// one instance, so that its bound on bursts holds for the process.
	refusals                *burst.Coalescer[*store.AuditEntry]
	stopRefusals            func() // ends refusals.Run, which flushes
	enrollFails, adminFails *netlimit.Limiter

	// A node of a cluster (Config.Cluster; server_cluster.go); nil and
	// empty on a single node.
	node     *cluster.Node
	presence *presence
	leases   []*leaseKeeper
	// campLease is the campaign evaluator's lease (cluster only).
	campLease *campaign.Keeper
	version   string
	// brokerRef is broker for the cluster's heartbeat, which starts
	// before the broker is built.
	brokerRef atomic.Pointer[broker.Broker]
	started   time.Time

	enrollSrv, adminSrv *http.Server
	enrollLis, adminLis net.Listener

	drain drainState // drain.go

	ready    chan struct{}
	stopBg   context.CancelFunc
	bg       sync.WaitGroup
	shutOnce sync.Once

	// configuredImageEndpoints are Options.ImageEndpoints as given, before
	// the cluster's nodes are added (server_endpoints.go).
	configuredImageEndpoints []string
}

// New opens the store (migrating it), unlocks or creates the CA and builds
// every part; it does not listen yet (Start does).
func New(cfg *Config, o Options) (*Server, error) {
	if o.Rand == nil {
		return nil, errors.New("fleet: options: Rand is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if cfg.Clustered() && len(o.AdvertiseMQTT) == 0 {
		o.AdvertiseMQTT = advertisable(cfg.Cluster.Advertise.MQTT)
	}
	if _, err := deviceproto.FormatEndpoints(o.AdvertiseMQTT); err != nil {
		return nil, fmt.Errorf("fleet: options: advertised MQTT endpoints: %w", err)
	}
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}
	log := o.Log
	if log == nil {
		log = NewLogger(cfg, o.LogOutput)
	}
	pass := o.Passphrase
	if pass == nil {
		pass = []byte(os.Getenv(cfg.CA.PassphraseEnv))
	}
	if len(pass) == 0 {
		return nil, fmt.Errorf("fleet: no CA passphrase: set %s", cfg.CA.PassphraseEnv)
	}
	s := &Server{cfg: cfg, opts: o, log: log, ready: make(chan struct{}), version: o.Version, started: o.Now().UTC()}
	if s.version == "" {
		s.version = buildVersion()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	weakPass, err := checkCAPassphrase(cfg, pass)
	if err != nil && !cfg.Clustered() {
		return nil, err
	}
	if err = secureDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	if s.db, err = store.Open(ctx, cfg.Database, store.Options{Now: o.Now, SQLiteSynchronous: cfg.SQLiteSynchronous}); err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		if s.presence != nil {
			s.presence.close()
		}
		if s.node != nil {
			s.node.Close()
		}
		s.db.Close()
		if s.caKey != nil {
			s.caKey.Close()
		}
		return nil, err
	}
	caOpts := ca.Options{Rand: o.Rand, Now: o.Now, Name: cfg.CA.Name}
	if cfg.Clustered() {
		s.ca, s.caCertFile, err = openSharedCA(ctx, s.db, cfg.DataDir, pass, weakPass, caOpts, log.With("component", "ca"))
	} else if cfg.CA.Key != "" {
		s.ca, err = s.openTokenCA(cfg, pass, caOpts)
		s.caCertFile = filepath.Join(cfg.DataDir, ca.CertFile)
	} else {
		s.ca, err = ca.Open(cfg.DataDir, pass, caOpts)
		s.caCertFile = filepath.Join(cfg.DataDir, ca.CertFile)
	}
	if abs, aerr := filepath.Abs(s.caCertFile); aerr == nil && s.caCertFile != "" {
		s.caCertFile = abs
	}
	if err != nil {
		return fail(err)
	}
	s.pass = pass
	if err := s.applyRotation(ctx, pass, caOpts); err != nil {
		return fail(err)
	}
	var nonceKey []byte
	if cfg.Clustered() {
		s.leases = []*leaseKeeper{{db: s.db, name: MaintenanceLease, holder: cfg.Cluster.Node, log: log.With("component", "lease")}}
		if err := s.joinCluster(ctx); err != nil {
			return fail(err)
		}
		s.presence = newPresence(s.node, log.With("component", "cluster"))
		s.wirePeers()
		// Every node authenticates nonces under the same key, derived
		// from the shared CA, and records their use in the store, in
		// the enrollment's transaction (server_cluster.go).
		if nonceKey, err = s.secretCA().DeriveSecret(labelNonceKey); err != nil {
			return fail(err)
		}
		s.certifyNodeEndpoints(ctx)
	}
	if weakPass != nil {
		log.Warn("the CA key is encrypted under a passphrase weaker than new keys may be; change it with rampart server ca-passphrase",
			"reason", weakPass.Error())
	}
	// The TLS server key lives in memory only; a new one each start.
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	if err != nil {
		return fail(fmt.Errorf("fleet: server key: %w", err))
	}
	cert, err := s.ca.IssueServer(&key.PublicKey, cfg.ServerNames, 90*24*time.Hour)
	if err != nil {
		return fail(err)
	}
	s.tlsCert = tls.Certificate{Certificate: s.caChain(cert.Raw), PrivateKey: key, Leaf: cert}
	if s.jobs, err = newJobSigner(s.ca, s.opts); err != nil {
		return fail(err)
	}

	var connected func() float64
	s.metrics = newMetrics(func() float64 { return connected() })
	// At most 10,000 bursts tracked, each holding about 2 KB at most;
	// beyond, sources share one burst per kind.
	s.refusals = burst.Audit(s.db, cfg.Audit.BurstWindow.Duration, 10000, o.Now, log.With("component", "audit"))
	failures := netlimit.Rate{PerSecond: cfg.Limits.FailureRate, Burst: cfg.Limits.FailureBurst}
	s.enrollFails = netlimit.NewLimiter(failures, cfg.Limits.Sources, o.Now)
	s.adminFails = netlimit.NewLimiter(failures, cfg.Limits.Sources, o.Now)
	s.enroll, err = enroll.NewService(enroll.Config{Store: s.db, CA: s.ca, Rand: o.Rand, Now: o.Now, Log: log.With("component", "enroll"),
		NonceTTL: cfg.NonceTTL.Duration, CertTTL: cfg.CA.CertTTL.Duration, OnDecision: s.metrics.decision,
		NonceRate: netlimit.Rate{PerSecond: cfg.Limits.NonceRate, Burst: cfg.Limits.NonceBurst}, MaxSources: cfg.Limits.Sources, Refusals: s.refusals,
		NonceKey: nonceKey, NoncesInStore: cfg.Clustered(), UsedNonces: s.olderNodesNonces(cfg.Clustered()),
		OnIssued: s.supersede, MQTTEndpoints: s.mqttEndpoints})
	if err != nil {
		return fail(err)
	}
	s.writer = telemetry.NewWriter(telemetry.WriterConfig{Store: s.db, Now: o.Now, Log: log.With("component", "telemetry"),
		MaxBatch: cfg.Telemetry.MaxBatch, MaxDelay: cfg.Telemetry.MaxDelay.Duration, Retention: cfg.Telemetry.Retention.Duration, OnCommit: s.metrics.committed})
	bc := broker.Config{Address: cfg.Listen.MQTT, CA: s.ca, Store: s.db, Certificate: s.tlsCert, Sink: s.writer,
		Now: o.Now, Log: log.With("component", "broker"), Refusals: s.refusals, OnDeny: func(a string) { s.metrics.mqttDenied.WithLabelValues(a).Inc() },
		OnStatus:  s.onStatus,
		OnConnect: func(id string) { s.camps.Connected(id) }}
	if s.presence != nil {
		bc.OnSession = s.presence.note
	}
	cfg.MQTT.brokerConfig(&bc)
	s.broker, err = broker.New(bc)
	if err != nil {
		s.writer.Close()
		return fail(err)
	}
	s.brokerRef.Store(s.broker)
	connected = func() float64 { return float64(s.broker.Connected()) }
	cc := s.opts.Campaign
	if cc.Tick == 0 {
		cc.Tick = cfg.Campaigns.Tick.Duration
	}
	if cc.BytesPerSecond == 0 {
		cc.BytesPerSecond = cfg.Campaigns.BytesPerSecond
	}
	cc.Store, cc.Publish, cc.ImageBase, cc.Now, cc.Log, cc.Jobs = s.db, s.publishJob, s.imageBase, o.Now, log.With("component", "campaign"), s.jobs
	// Download keys are stored sealed under a secret only the CA key gives.
	if cc.KeySecret, err = s.secretCA().DeriveSecret(labelCampaignKeys); err != nil {
		s.writer.Close()
		return fail(err)
	}
	cc.Refusals = s.refusals
	if cfg.Clustered() {
		// One node evaluates campaigns at a time (campaign.Keeper); every
		// node takes in device events and operator actions.
		s.campLease = campaign.NewKeeper(s.db, campaign.LeaseName, cfg.Cluster.Node)
		s.campLease.Log = log.With("component", "lease")
		cc.Leader = s.campLease.Leader
	}
	if s.camps, err = campaign.New(ctx, cc); err != nil {
		s.writer.Close()
		return fail(err)
	}
	if s.campLease != nil {
		s.campLease.OnAcquire = func(int64) { s.camps.Kick() }
	}
	if err := s.startTransfer(ctx); err != nil {
		s.writer.Close()
		return fail(err)
	}
	s.api, err = api.New(api.Deps{Transfer: s.transfer, CA: caRotator{s}, Store: s.db, Disconnect: s.disconnect, Manufacturers: cfg.manufacturerKeys, ReleaseKeys: cfg.releaseKeys, RetiredReleaseKeys: cfg.retiredKeys, RetiringReleaseKeys: cfg.retiringKeys,
		Campaigns: s.camps, Tokens: cfg.APITokens, Metrics: s.metrics.handler(), Log: log.With("component", "api"), OnRequest: s.metrics.request,
		Refusals: s.refusals, Nodes: s.nodes, Draining: s.drain.draining.Load, Ready: s.opts.Ready})
	if err != nil {
		s.writer.Close()
		return fail(err)
	}
	s.console, err = console.New(console.Deps{API: s.api, Store: s.db, Campaigns: s.camps, Log: log.With("component", "console"), Now: o.Now,
		Online: s.onlineDevices,
		Totals: func() (int64, int64) { return s.metrics.issuedTotal.Load(), s.metrics.samplesTotal.Load() }})
	if err != nil {
		s.writer.Close()
		return fail(err)
	}
	return s, nil
}

// secureDataDir makes data_dir (the CA key and, by default, the database)
// 0700 and an existing CA key file 0600, tightening what an older version
// or an operator left open. Where an existing directory or key file cannot
// be changed (a read-only mount, another owner) the server still starts,
// warning: it only reads them; the database it writes is held to 0600
// strictly (fleet/store).
func secureDataDir(dir string, log *slog.Logger) error {
	for _, step := range []struct {
		path string
		do   func(string) error
	}{{dir, secfile.MkdirAll}, {filepath.Join(dir, ca.KeyFile), secfile.Tighten}} {
		err := step.do(step.path)
		if errors.Is(err, secfile.ErrCannotTighten) {
			log.Warn("readable by other users and its mode cannot be changed: fix it (0700 directory, 0600 key)", "path", step.path, "err", err.Error())
			continue
		}
		if err != nil {
			return fmt.Errorf("fleet: data_dir: %w", err)
		}
	}
	return nil
}

// checkCAPassphrase applies ca.CheckPassphrase before anything is
// created: a new CA key is written only under a passphrase that meets it.
// An existing key under a weaker one still opens (refusing it would stop a
// running fleet at upgrade, and the key is no weaker than it was): weak is
// then returned for the caller to warn about.
func checkCAPassphrase(cfg *Config, pass []byte) (weak, err error) {
	weak = ca.CheckPassphrase(pass)
	if weak == nil {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, ca.KeyFile)); errors.Is(err, os.ErrNotExist) {
		return weak, fmt.Errorf("fleet: CA passphrase (%s): %w; generate one, e.g. openssl rand -base64 24", cfg.CA.PassphraseEnv, weak)
	}
	return weak, nil
}

// NewLogger builds the structured logger the configuration asks for.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.Log.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}

// Start listens on the three addresses and serves in the background.
func (s *Server) Start() error {
	tc := tlsconf.Server(s.tlsCert)
	var err error
	if s.enrollLis, err = s.listen("enroll", s.cfg.Listen.Enroll, s.cfg.HTTP.Enroll, tc); err != nil {
		return err
	}
	if s.adminLis, err = s.listen("admin", s.cfg.Listen.Admin, s.cfg.HTTP.Admin, tc); err != nil {
		s.enrollLis.Close()
		return err
	}
	if s.node != nil {
		if err := s.subscribeCluster(); err != nil {
			s.enrollLis.Close()
			s.adminLis.Close()
			return err
		}
	}
	if err := s.broker.Start(); err != nil {
		s.enrollLis.Close()
		s.adminLis.Close()
		return err
	}
	if s.node != nil {
		s.advertiseBound()
	}
	// The enrollment listener also serves release images to devices
	// (content-addressed, Range requests): devices already trust it.
	mux := http.NewServeMux()
	mux.Handle("GET /images/", s.camps.ImageHandler())
	mux.Handle("/", s.enroll.Handler())
	s.enrollSrv = s.httpServer("enroll", s.cfg.HTTP.Enroll, netlimit.Failures(mux, s.enrollFails, nil, s.limited("enroll")))
	// The admin listener serves the API and, under /ui/, the console.
	admin := http.NewServeMux()
	admin.Handle("/ui/", s.console)
	admin.Handle("/ui", s.console)
	admin.Handle("/", s.api)
	authed := func(r *http.Request) bool { return s.api.Authenticated(r) || s.console.Authenticated(r) }
	s.adminSrv = s.httpServer("admin", s.cfg.HTTP.Admin, netlimit.Failures(admin, s.adminFails, authed, s.limited("admin")))
	s.adminSrv.RegisterOnShutdown(s.console.Close) // live streams end, so the listener can drain
	go s.enrollSrv.Serve(s.enrollLis)
	go s.adminSrv.Serve(s.adminLis)
	s.camps.Start()
	if s.campLease != nil {
		s.campLease.Start()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBg = cancel
	// The coalescer outlives the other background work: it is stopped,
	// and flushed, after every listener has closed (Shutdown).
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan struct{})
	s.stopRefusals = func() { rcancel(); <-rdone }
	go func() {
		defer close(rdone)
		s.refusals.Run(rctx)
	}()
	maintenance := func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			telemetry.RunRetention(ctx, s.db, s.cfg.Telemetry.Retention.Duration, time.Hour, s.opts.Now, s.log)
		}()
		go func() {
			defer wg.Done()
			telemetry.RunCompaction(ctx, telemetry.CompactConfig{Store: s.db, Interval: s.cfg.Telemetry.CompactInterval.Duration,
				Log: s.log.With("component", "telemetry"), OnCompact: s.metrics.compacted})
		}()
		go func() {
			defer wg.Done()
			runAuditRetention(ctx, s.db, s.cfg.Audit.Retention.Duration, s.cfg.Audit.MaxRows, time.Hour, s.opts.Now, s.log.With("component", "audit"))
		}()
		if s.node != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.pruneUsedNonces(ctx)
			}()
		}
		wg.Wait()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.runRotation(ctx)
	}()
	s.bg.Add(1)
	if s.node == nil {
		go func() {
			defer s.bg.Done()
			maintenance(ctx)
		}()
	} else {
		// One node at a time runs the maintenance loops: the lease's.
		go func() {
			defer s.bg.Done()
			s.leases[0].run(ctx, maintenance)
		}()
		s.bg.Add(2)
		go func() {
			defer s.bg.Done()
			s.runShares(ctx)
		}()
		go func() {
			defer s.bg.Done()
			s.recertifyLoop(ctx)
		}()
	}
	s.log.Info("fleet server started", "enroll", s.EnrollURL(), "admin", s.AdminURL(), "mqtt", s.MQTTAddr(), "store", string(s.db.Dialect()),
		"ca", s.caCertFile, "ca_use", "--ca of rampart fleet, rampart campaign and rampart agent")
	close(s.ready)
	return nil
}

// CACertFile is the absolute path of the fleet CA certificate in data_dir,
// the file every client needs as --ca; "" when a cluster node's data_dir
// holds another CA than the cluster's.
func (s *Server) CACertFile() string { return s.caCertFile }

// listen opens an HTTPS listener whose connections are capped per source
// and in all (a refused connection is closed before its TLS handshake).
func (s *Server) listen(name, addr string, l HTTPLimits, tc *tls.Config) (net.Listener, error) {
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fleet: listen %s: %w", name, err)
	}
	capped := netlimit.Listen(inner, l.MaxConnsPerSource, l.MaxConns, func(src netlimit.Source) {
		s.metrics.refusedConn.WithLabelValues(name).Inc()
		// Off the accept loop: the first refusal of a burst is a commit.
		go s.refuse(src, "http."+name+".connect", "connection refused: over the listener's connection limits", "conn-cap")
	})
	return tls.NewListener(capped, tc), nil
}

// httpServer builds a listener's server with its timeouts: headers (and
// the TLS handshake) within ReadHeaderTimeout, the whole request within
// ReadTimeout, no body or response stalled longer than StallTimeout, no
// path or query with control characters or invalid UTF-8.
func (s *Server) httpServer(name string, l HTTPLimits, h http.Handler) *http.Server {
	h = netlimit.Stall(netlimit.CleanRequest(h), l.StallTimeout.Duration, l.ReadTimeout.Duration)
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout.Duration, ReadTimeout: l.ReadTimeout.Duration,
		WriteTimeout: l.StallTimeout.Duration, IdleTimeout: l.IdleTimeout.Duration, MaxHeaderBytes: l.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
}

// limited audits (once per burst) a request refused for its source's
// spent failure budget.
func (s *Server) limited(name string) func(*http.Request, netlimit.Source) {
	return func(r *http.Request, src netlimit.Source) {
		s.metrics.rateLimited.WithLabelValues(name).Inc()
		s.refuse(src, "http."+name, "rate-limited: too many failed requests from this source", "failures")
	}
}

func (s *Server) refuse(src netlimit.Source, action, reason, kind string) {
	e := &store.AuditEntry{Actor: "remote:" + src.String(), Action: action, Subject: src.String(), Decision: store.Deny, Reason: reason}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.refusals.Add(ctx, src.String(), action+" "+kind, e); err != nil {
		s.log.Error("audit write failed", "err", err)
	}
}

// Ready is closed once Start has bound every listener.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// EnrollURL is the base URL of the enrollment (EST) endpoint.
func (s *Server) EnrollURL() string { return "https://" + s.enrollLis.Addr().String() }

// AdminURL is the base URL of the admin API.
func (s *Server) AdminURL() string { return "https://" + s.adminLis.Addr().String() }

// MQTTAddr is the host:port of the MQTT broker.
func (s *Server) MQTTAddr() string { return s.broker.Addr() }

// Store returns the server's store (tests, the CLI).
func (s *Server) Store() *store.DB { return s.db }

// CA returns the fleet CA.
func (s *Server) CA() *ca.CA { return s.ca }

// JobSigner signs firmware-update jobs for devices (the campaign engine's,
// and those a simulator publishes itself).
func (s *Server) JobSigner() *deviceproto.JobSigner { return s.jobs }

// Campaigns returns the campaign engine.
func (s *Server) Campaigns() *campaign.Engine { return s.camps }

// Broker returns the MQTT broker.
func (s *Server) Broker() *broker.Broker { return s.broker }

// Shutdown stops accepting work, lets HTTP requests in flight finish (until
// ctx ends), closes MQTT connections, flushes telemetry and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	s.shutOnce.Do(func() {
		errs = append(errs, s.stopHTTP(ctx, s.enrollSrv, &s.drain.enrollStopped), s.stopHTTP(ctx, s.adminSrv, &s.drain.adminStopped))
		if s.stopBg != nil {
			s.stopBg()
		}
		errs = append(errs, s.camps.Close())
		if s.campLease != nil {
			// Released: another node evaluates at once, not after expiry.
			errs = append(errs, s.campLease.Close(true))
		}
		errs = append(errs, s.broker.Close())
		if s.presence != nil {
			s.presence.close() // the ends of the sessions just closed
		}
		if s.stopRefusals != nil {
			s.stopRefusals() // after every listener: the refusal counts are flushed last
		}
		s.writer.Close()
		s.bg.Wait() // the leases released
		if s.node != nil {
			errs = append(errs, s.node.Close())
		}
		errs = append(errs, s.db.Close())
		if s.caKey != nil {
			errs = append(errs, s.caKey.Close())
		}
		s.log.Info("fleet server stopped")
	})
	return errors.Join(errs...)
}
