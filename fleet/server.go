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
	"sync"
	"time"

	"rampart/fleet/api"
	"rampart/fleet/broker"
	"rampart/fleet/ca"
	"rampart/fleet/campaign"
	"rampart/fleet/enroll"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
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
}

// Server is a fleet server.
type Server struct {
	cfg     *Config
	opts    Options
	log     *slog.Logger
	db      *store.DB
	ca      *ca.CA
	enroll  *enroll.Service
	writer  *telemetry.Writer
	broker  *broker.Broker
	api     *api.API
	camps   *campaign.Engine
	metrics *metrics
	tlsCert tls.Certificate

	enrollSrv, adminSrv *http.Server
	enrollLis, adminLis net.Listener

	ready    chan struct{}
	stopBg   context.CancelFunc
	bg       sync.WaitGroup
	shutOnce sync.Once
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
	s := &Server{cfg: cfg, opts: o, log: log, ready: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if err = os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet: data_dir: %w", err)
	}
	if s.db, err = store.Open(ctx, cfg.Database, store.Options{Now: o.Now, SQLiteSynchronous: cfg.SQLiteSynchronous}); err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) { s.db.Close(); return nil, err }
	if s.ca, err = ca.Open(cfg.DataDir, pass, ca.Options{Rand: o.Rand, Now: o.Now, Name: cfg.CA.Name}); err != nil {
		return fail(err)
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
	s.tlsCert = tls.Certificate{Certificate: [][]byte{cert.Raw, s.ca.Certificate().Raw}, PrivateKey: key, Leaf: cert}

	var connected func() float64
	s.metrics = newMetrics(func() float64 { return connected() })
	s.enroll, err = enroll.NewService(enroll.Config{Store: s.db, CA: s.ca, Rand: o.Rand, Now: o.Now, Log: log.With("component", "enroll"),
		NonceTTL: cfg.NonceTTL.Duration, CertTTL: cfg.CA.CertTTL.Duration, OnDecision: s.metrics.decision,
		OnIssued: func(id, serial string) { s.broker.Supersede(id, serial) }})
	if err != nil {
		return fail(err)
	}
	s.writer = telemetry.NewWriter(telemetry.WriterConfig{Store: s.db, Now: o.Now, Log: log.With("component", "telemetry"),
		MaxBatch: cfg.Telemetry.MaxBatch, MaxDelay: cfg.Telemetry.MaxDelay.Duration, OnCommit: s.metrics.committed})
	s.broker, err = broker.New(broker.Config{Address: cfg.Listen.MQTT, CA: s.ca, Store: s.db, Certificate: s.tlsCert, Sink: s.writer,
		Now: o.Now, Log: log.With("component", "broker"), OnDeny: func(a string) { s.metrics.mqttDenied.WithLabelValues(a).Inc() },
		OnStatus: func(id string, p []byte) { s.camps.Report(context.Background(), id, p) }})
	if err != nil {
		s.writer.Close()
		return fail(err)
	}
	connected = func() float64 { return float64(s.broker.Connected()) }
	cc := o.Campaign
	if cc.Tick == 0 {
		cc.Tick = cfg.Campaigns.Tick.Duration
	}
	if cc.BytesPerSecond == 0 {
		cc.BytesPerSecond = cfg.Campaigns.BytesPerSecond
	}
	cc.Store, cc.Publish, cc.ImageBase, cc.Now, cc.Log = s.db, s.broker.PublishJob, s.EnrollURL, o.Now, log.With("component", "campaign")
	if s.camps, err = campaign.New(ctx, cc); err != nil {
		s.writer.Close()
		return fail(err)
	}
	s.api, err = api.New(api.Deps{Store: s.db, Disconnect: s.broker.Disconnect, Manufacturers: cfg.manufacturerKeys, ReleaseKeys: cfg.releaseKeys,
		Campaigns: s.camps, Tokens: cfg.APITokens, Metrics: s.metrics.handler(), Log: log.With("component", "api"), OnRequest: s.metrics.request})
	if err != nil {
		s.writer.Close()
		return fail(err)
	}
	return s, nil
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
	if s.enrollLis, err = tls.Listen("tcp", s.cfg.Listen.Enroll, tc); err != nil {
		return fmt.Errorf("fleet: listen enroll: %w", err)
	}
	if s.adminLis, err = tls.Listen("tcp", s.cfg.Listen.Admin, tc); err != nil {
		s.enrollLis.Close()
		return fmt.Errorf("fleet: listen admin: %w", err)
	}
	if err := s.broker.Start(); err != nil {
		s.enrollLis.Close()
		s.adminLis.Close()
		return err
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	// The enrollment listener also serves release images to devices
	// (content-addressed, Range requests): devices already trust it.
	mux := http.NewServeMux()
	mux.Handle("GET /images/", s.camps.ImageHandler())
	mux.Handle("/", s.enroll.Handler())
	s.enrollSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: errLog}
	s.adminSrv = &http.Server{Handler: s.api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, ErrorLog: errLog}
	go s.enrollSrv.Serve(s.enrollLis)
	go s.adminSrv.Serve(s.adminLis)
	s.camps.Start()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBg = cancel
	s.bg.Add(3)
	go func() {
		defer s.bg.Done()
		telemetry.RunRetention(ctx, s.db, s.cfg.Telemetry.Retention.Duration, time.Hour, s.opts.Now, s.log)
	}()
	go func() {
		defer s.bg.Done()
		telemetry.RunCompaction(ctx, telemetry.CompactConfig{Store: s.db, Interval: s.cfg.Telemetry.CompactInterval.Duration,
			Log: s.log.With("component", "telemetry"), OnCompact: s.metrics.compacted})
	}()
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.enroll.SweepNonces()
			}
		}
	}()
	s.log.Info("fleet server started", "enroll", s.EnrollURL(), "admin", s.AdminURL(), "mqtt", s.MQTTAddr(), "store", string(s.db.Dialect()))
	close(s.ready)
	return nil
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

// Campaigns returns the campaign engine.
func (s *Server) Campaigns() *campaign.Engine { return s.camps }

// Broker returns the MQTT broker.
func (s *Server) Broker() *broker.Broker { return s.broker }

// Shutdown stops accepting work, lets HTTP requests in flight finish (until
// ctx ends), closes MQTT connections, flushes telemetry and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	s.shutOnce.Do(func() {
		if s.stopBg != nil {
			s.stopBg()
		}
		if s.enrollSrv != nil {
			errs = append(errs, s.enrollSrv.Shutdown(ctx), s.adminSrv.Shutdown(ctx))
		}
		errs = append(errs, s.camps.Close())
		errs = append(errs, s.broker.Close())
		s.writer.Close()
		s.bg.Wait()
		errs = append(errs, s.db.Close())
		s.log.Info("fleet server stopped")
	})
	return errors.Join(errs...)
}
