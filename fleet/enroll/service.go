package enroll

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/internal/burst"
	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store"
)

// Config configures a Service.
type Config struct {
	Store    *store.DB
	CA       *ca.CA
	Rand     io.Reader        // nonces; required
	Now      func() time.Time // clock; time.Now when nil
	Log      *slog.Logger     // nil discards
	NonceTTL time.Duration    // default 5 minutes
	CertTTL  time.Duration    // device certificate lifetime; default 24 hours
	// MaxUsedNonces bounds the used nonces remembered until they expire
	// (default 1,000,000); issued nonces are not stored at all.
	MaxUsedNonces int
	// NonceKey is the key nonces are authenticated with (at least 32
	// bytes); the nodes of a cluster share it, so a nonce one issues
	// another accepts. Nil: a fresh random key at each start.
	NonceKey []byte
	// UsedNonces records used nonces for every node of a cluster; nil:
	// this process remembers them (MaxUsedNonces).
	UsedNonces UsedNonceSet
	// NoncesInStore records each nonce's use in the enrollment's own
	// store transaction (store.RecordEnrollmentWithNonce) instead: single
	// use across every node sharing the store, without a round trip of
	// its own. Only an enrollment that issues a certificate uses its
	// nonce; a refused one (device state, firmware) leaves it unused
	// until it expires, which grants nothing: the certificate is only
	// ever issued for the CSR key the device's token binds.
	// MaxUsedNonces is then unused; UsedNonces, when set, is consulted
	// as well (before the certificate is issued): a cluster in a rolling
	// upgrade whose nodes of the previous release record nonces there
	// only (fleet/cluster, mixed.go).
	NoncesInStore bool
	// NonceRate limits nonce requests per source (IPv4 address, IPv6
	// /64); default 20/s, bursts of 100.
	NonceRate netlimit.Rate
	// MaxSources bounds the sources NonceRate tracks (default 65,536).
	MaxSources int
	// Refusals coalesces refusal audit entries per source and kind (the
	// first of a burst written at once, then a count per window); the
	// caller runs it. When nil every refusal is written on its own and
	// rate-limited nonce requests are only logged.
	Refusals *burst.Coalescer[*store.AuditEntry]
	// OnDecision is called after each decision (metrics); may be nil.
	OnDecision func(action string, code deviceproto.Code)
	// OnIssued is called once a device's new certificate is on record,
	// before it is returned, when the store revoked earlier certificates
	// of the device in the same transaction (store.Certificate.Superseded;
	// not for a first enrollment, whose device has no session to end: in
	// a cluster that saves a bus message per enrollment). The server ends
	// the MQTT sessions still using them (broker.Supersede). renewal is
	// true for a renewal (PathSimpleReenrol) of an active device: the
	// device itself, proved by a fresh attestation token, replaced its
	// certificate (the server gives the old session a grace, see
	// Server.supersedeGrace). May be nil.
	OnIssued func(deviceID, serial string, renewal bool)
	// MQTTEndpoints returns the MQTT endpoints (host:port) devices may
	// use, sent with every certificate issued (deviceproto
	// HeaderMQTTEndpoints); nil or empty sends none.
	MQTTEndpoints func() []string
}

// Service is the server side of enrollment.
type Service struct {
	cfg        Config
	nonces     *nonces
	nonceLimit *netlimit.Limiter
}

// Defaults of Config.
var (
	DefaultNonceRate = netlimit.Rate{PerSecond: 20, Burst: 100}
)

// NewService checks cfg and builds a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.CA == nil || cfg.Rand == nil {
		return nil, errors.New("enroll: config: Store, CA and Rand are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.NonceTTL <= 0 {
		cfg.NonceTTL = 5 * time.Minute
	}
	if cfg.CertTTL <= 0 {
		cfg.CertTTL = 24 * time.Hour
	}
	if cfg.MaxUsedNonces <= 0 {
		cfg.MaxUsedNonces = 1_000_000
	}
	if cfg.NonceRate == (netlimit.Rate{}) {
		cfg.NonceRate = DefaultNonceRate
	}
	if !cfg.NonceRate.Valid() {
		return nil, errors.New("enroll: config: NonceRate needs a positive rate and burst")
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = 65536
	}
	n, err := newNonces(cfg.NonceTTL, cfg.MaxUsedNonces, cfg.Now, cfg.Rand, cfg.NonceKey, cfg.UsedNonces)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, nonces: n, nonceLimit: netlimit.NewLimiter(cfg.NonceRate, cfg.MaxSources, cfg.Now)}, nil
}

// Handler serves the enrollment endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+deviceproto.PathNonce, s.serveNonce)
	mux.HandleFunc("GET "+deviceproto.PathCACerts, s.serveCACerts)
	mux.HandleFunc("POST "+deviceproto.PathSimpleEnroll, func(w http.ResponseWriter, r *http.Request) { s.serveEnroll(w, r, false) })
	mux.HandleFunc("POST "+deviceproto.PathSimpleReenrol, func(w http.ResponseWriter, r *http.Request) { s.serveEnroll(w, r, true) })
	return mux
}

func (s *Service) serveNonce(w http.ResponseWriter, r *http.Request) {
	src := netlimit.SourceOf(r.RemoteAddr)
	if !s.nonceLimit.Allow(src) {
		s.refuseRate(r.Context(), src, "remote:"+r.RemoteAddr)
		netlimit.TooMany(w, s.nonceLimit.RetryAfter(src))
		return
	}
	n, exp, err := s.nonces.issue()
	if err != nil {
		s.cfg.Log.Error("nonce refused", "err", err, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "enroll: no nonce available now", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(appendNonceReply(make([]byte, 0, 128), n, exp))
}

// appendNonceReply appends the JSON of deviceproto.NonceReply{n, exp} exactly as
// encoding/json's Encoder writes it (base64 nonce, RFC 3339 time with
// nanoseconds, a final newline), without reflection: every enrollment asks
// for a nonce. TestNonceReplyJSON compares the two.
func appendNonceReply(b, n []byte, exp time.Time) []byte {
	b = append(b, `{"nonce":"`...)
	b = base64.StdEncoding.AppendEncode(b, n)
	b = append(b, `","expires":"`...)
	b = exp.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

func (s *Service) serveCACerts(w http.ResponseWriter, _ *http.Request) {
	p7, err := deviceproto.CertsOnly(s.cfg.CA.Certificate())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeCertsOnly(w, p7)
}

func writeCertsOnly(w http.ResponseWriter, p7 []byte) {
	w.Header().Set("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.Write(base64.StdEncoding.AppendEncode(make([]byte, 0, base64.StdEncoding.EncodedLen(len(p7))), p7))
}

func (s *Service) serveEnroll(w http.ResponseWriter, r *http.Request, renew bool) {
	action := "enroll"
	if renew {
		action = "renew"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, deviceproto.MaxBodySize))
	var cert []byte
	var ref *deviceproto.Refusal
	var subject string
	if err != nil {
		ref = refuse(deviceproto.CodeOversized, "request body: %v", err)
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			ref.Code = deviceproto.CodeMalformed
		}
	} else {
		subject, cert, ref = s.Enroll(r.Context(), deviceproto.RawRequest{
			ContentType:      r.Header.Get("Content-Type"),
			TransferEncoding: r.Header.Get("Content-Transfer-Encoding"),
			Body:             body,
			Nonce:            r.Header.Get(deviceproto.HeaderNonce),
			Token:            r.Header.Get(deviceproto.HeaderToken),
		}, renew, "remote:"+r.RemoteAddr)
	}
	if ref != nil {
		if err != nil { // Enroll audits its own refusals
			s.audit(r.Context(), "remote:"+r.RemoteAddr, action, subject, ref)
		}
		if ref.Code == deviceproto.CodeInternal { // the cause is in the log and the audit row
			ref = &deviceproto.Refusal{Code: deviceproto.CodeInternal, Detail: "internal error: the server logged the cause"}
		}
		w.Header().Set(deviceproto.HeaderReason, string(ref.Code))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ref.Code.HTTPStatus())
		json.NewEncoder(w).Encode(ref)
		return
	}
	if s.cfg.MQTTEndpoints != nil {
		if l := s.cfg.MQTTEndpoints(); len(l) > 0 {
			v, err := deviceproto.FormatEndpoints(l)
			if err != nil { // the server's own configuration: checked at start
				s.cfg.Log.Error("mqtt endpoints not sent", "err", err)
			} else {
				w.Header().Set(deviceproto.HeaderMQTTEndpoints, v)
			}
		}
	}
	writeCertsOnly(w, cert)
}

// audit records a refusal: through Config.Refusals, keyed by the source in
// actor ("remote:host:port") and the action, code and subject, so that a
// flood of one refusal writes one row and then a count per window.
func (s *Service) audit(ctx context.Context, actor, action, subject string, ref *deviceproto.Refusal) {
	e := &store.AuditEntry{Actor: actor, Action: action, Subject: subject, Decision: store.Deny, Reason: string(ref.Code) + ": " + ref.Detail}
	recorded, err := s.record(ctx, actor, action+" "+string(ref.Code)+" "+subject, e)
	if err != nil {
		s.cfg.Log.Error("audit write failed", "err", err)
	}
	lvl := slog.LevelInfo
	if !recorded {
		lvl = slog.LevelDebug // counted in the burst's summary row
	}
	s.cfg.Log.Log(ctx, lvl, "enrollment refused", "action", action, "subject", subject, "code", ref.Code, "detail", ref.Detail, "actor", actor)
	if s.cfg.OnDecision != nil {
		s.cfg.OnDecision(action, ref.Code)
	}
}

func (s *Service) record(ctx context.Context, actor, kind string, e *store.AuditEntry) (bool, error) {
	if s.cfg.Refusals == nil {
		return true, s.cfg.Store.Audit(ctx, e)
	}
	src := netlimit.SourceOf(strings.TrimPrefix(actor, "remote:"))
	return s.cfg.Refusals.Add(ctx, src.String(), kind, e)
}

// refuseRate records a nonce request refused by the per-source rate.
func (s *Service) refuseRate(ctx context.Context, src netlimit.Source, actor string) {
	if s.cfg.Refusals == nil {
		s.cfg.Log.Debug("nonce request rate-limited", "source", src)
		return
	}
	e := &store.AuditEntry{Actor: actor, Action: "enroll.nonce", Subject: src.String(), Decision: store.Deny,
		Reason: fmt.Sprintf("rate-limited: over %g nonce requests a second from this source", s.cfg.NonceRate.PerSecond)}
	if recorded, err := s.cfg.Refusals.Add(ctx, src.String(), "enroll.nonce rate-limited", e); err != nil {
		s.cfg.Log.Error("audit write failed", "err", err)
	} else if recorded {
		s.cfg.Log.Info("nonce requests rate-limited", "source", src)
	}
}

// Enroll runs the whole decision for one request and returns the device ID
// and the certs-only PKCS#7 of the issued certificate, or a refusal. Every
// refusal is audited here, except those found before the body was read
// (the HTTP handler audits those).
func (s *Service) Enroll(ctx context.Context, raw deviceproto.RawRequest, renew bool, actor string) (deviceID string, p7 []byte, ref *deviceproto.Refusal) {
	action := "enroll"
	if renew {
		action = "renew"
	}
	defer func() {
		if ref != nil {
			s.audit(ctx, actor, action, deviceID, ref)
		}
	}()
	req, err := deviceproto.ParseRequest(raw)
	if err != nil {
		return "", nil, refuse(deviceproto.CodeMalformed, "%v", err)
	}
	nonceID, nonceExp, ref := s.nonces.check(req.ServerNonce)
	if ref != nil {
		return "", nil, ref
	}
	binding, err := deviceproto.Binding(req.ServerNonce, req.CSR.PublicKey)
	if err != nil {
		return "", nil, refuse(deviceproto.CodeMalformed, "%v", err)
	}
	var dev *store.Device
	claims, err := attest.Verify(req.Token, attest.VerifyOptions{
		Nonce: binding,
		Lookup: func(instanceID []byte) (*attest.Endorsement, error) {
			d, err := s.cfg.Store.DeviceByInstance(ctx, instanceID)
			if err != nil {
				return nil, err
			}
			pub, err := attest.ParsePublicKeyPEM([]byte(d.PublicKeyPEM))
			if err != nil {
				return nil, err
			}
			dev = d
			return &attest.Endorsement{InstanceID: d.InstanceID, ImplementationID: d.ImplementationID, PublicKey: pub}, nil
		},
	})
	if dev != nil {
		deviceID = dev.ID
	}
	if err != nil {
		return deviceID, nil, classify(err)
	}
	if dev == nil { // Lookup always runs before a successful Verify.
		return deviceID, nil, refuse(deviceproto.CodeInternal, "verified token without an endorsement")
	}
	// Only now is the nonce recorded as used: a token of an endorsed
	// device binds it, so no one without one can fill the used set.
	// (NoncesInStore: with the certificate, below, and in UsedNonces
	// too when set.)
	if !s.cfg.NoncesInStore || s.cfg.UsedNonces != nil {
		if ref := s.nonces.use(ctx, nonceID, nonceExp); ref != nil {
			return deviceID, nil, ref
		}
	}
	switch {
	case dev.State == store.Decommissioned:
		return deviceID, nil, refuse(deviceproto.CodeDeviceState, "device is decommissioned: re-provision it before it may enroll again")
	case dev.State == store.Suspended:
		return deviceID, nil, refuse(deviceproto.CodeDeviceState, "device is suspended: %s", dev.Reason)
	case renew && dev.State != store.Active:
		return deviceID, nil, refuse(deviceproto.CodeDeviceState, "renewal needs an enrolled (active) device; device is %s", dev.State)
	}
	if ref := s.checkFirmware(ctx, claims); ref != nil {
		return deviceID, nil, ref
	}
	cert, err := s.cfg.CA.IssueDeviceDER(req.CSR.PublicKey, dev.ID, dev.InstanceID, s.cfg.CertTTL)
	if err != nil {
		return deviceID, nil, refuse(deviceproto.CodeInternal, "issue: %v", err)
	}
	p7, err = deviceproto.CertsOnlyDER(cert.DER)
	if err != nil {
		return deviceID, nil, refuse(deviceproto.CodeInternal, "%v", err)
	}
	from := enrollFrom
	if renew || dev.State == store.Active {
		// The decision was made on an active device's endorsement: it is
		// recorded only if the device is still active (the store then
		// leaves its state column, and that index, unwritten).
		from = renewFrom
	}
	rec := &store.Certificate{Serial: ca.Serial(cert.Serial), DeviceID: dev.ID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.DER, Claims: claimsJSON(claims)}
	ok := &store.AuditEntry{Actor: actor, Action: action, Subject: dev.ID, Decision: store.Allow,
		Reason: allowReason(claims, rec.Serial, cert.NotAfter)}
	record := func() error { return s.cfg.Store.RecordEnrollment(ctx, rec, from, ok) }
	if s.cfg.NoncesInStore {
		record = func() error { return s.cfg.Store.RecordEnrollmentWithNonce(ctx, nonceID[:], nonceExp, rec, from, ok) }
	}
	if err := record(); err != nil {
		if errors.Is(err, store.ErrNonceUsed) {
			return deviceID, nil, refuse(deviceproto.CodeNonceReplayed, "server nonce was already used")
		}
		if errors.Is(err, store.ErrConflict) {
			return deviceID, nil, refuse(deviceproto.CodeDeviceState, "%v", err)
		}
		return deviceID, nil, refuse(deviceproto.CodeInternal, "record: %v", err)
	}
	if s.cfg.OnIssued != nil && rec.Superseded > 0 {
		// A renewal is recorded only while the device is active
		// (renewFrom): a device revoked, suspended or decommissioned
		// before the commit was refused above.
		s.cfg.OnIssued(dev.ID, rec.Serial, renew)
	}
	s.cfg.Log.Info("device enrolled", "action", action, "device", dev.ID, "serial", rec.Serial)
	if s.cfg.OnDecision != nil {
		s.cfg.OnDecision(action, "")
	}
	return deviceID, p7, nil
}

// The states a device may enroll from (RecordEnrollment only reads them).
var (
	enrollFrom = []store.State{store.Registered, store.Active}
	renewFrom  = []store.State{store.Active}
)

// allowReason is the audit reason of an issued certificate, "attested
// (lifecycle L, N measurements matched); certificate S until T", built
// without fmt (every enrollment writes one).
func allowReason(c *attest.Claims, serial string, notAfter time.Time) string {
	b := make([]byte, 0, 160)
	b = append(b, "attested (lifecycle "...)
	b = append(b, c.Lifecycle.String()...)
	b = append(b, ", "...)
	b = strconv.AppendInt(b, int64(len(c.SoftwareComponents)), 10)
	b = append(b, " measurements matched); certificate "...)
	b = append(b, serial...)
	b = append(b, " until "...)
	b = notAfter.UTC().AppendFormat(b, time.RFC3339)
	return string(b)
}

// refuse builds a refusal with code c.
func refuse(c deviceproto.Code, format string, args ...any) *deviceproto.Refusal {
	return &deviceproto.Refusal{Code: c, Detail: fmt.Sprintf(format, args...)}
}

// classify maps attest.Verify errors to refusal codes.
func classify(err error) *deviceproto.Refusal {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, attest.ErrUnknownKey):
		return refuse(deviceproto.CodeUnknownInstance, "no endorsement for the token's instance ID: %v", err)
	case errors.Is(err, attest.ErrSignature):
		return refuse(deviceproto.CodeBadSignature, "token is not signed by the endorsed attestation key: %v", err)
	case errors.Is(err, attest.ErrNonce):
		return refuse(deviceproto.CodeBinding, "token nonce is not SHA-256(server nonce || CSR public key): %v", err)
	case errors.Is(err, attest.ErrLifecycle):
		return refuse(deviceproto.CodeLifecycle, "%v", err)
	case errors.Is(err, attest.ErrEndorsement), errors.Is(err, attest.ErrInstanceID):
		return refuse(deviceproto.CodeEndorsement, "%v", err)
	case errors.Is(err, attest.ErrKey):
		return refuse(deviceproto.CodeInternal, "endorsed key unusable: %v", err)
	}
	return refuse(deviceproto.CodeMalformedToken, "%v", err)
}

// checkFirmware requires every software component to match a registered
// release: same image hash, and same signer ID.
func (s *Service) checkFirmware(ctx context.Context, c *attest.Claims) *deviceproto.Refusal {
	if len(c.SoftwareComponents) == 0 {
		return refuse(deviceproto.CodeNoMeasurements, "token carries no software measurements")
	}
	for i, sc := range c.SoftwareComponents {
		rel, err := s.cfg.Store.Release(ctx, sc.MeasurementValue)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(deviceproto.CodeUnknownFirmware, "software-components[%d] (%s %s): measurement %s is no registered release", i, sc.MeasurementType, sc.Version, hex.EncodeToString(sc.MeasurementValue))
		}
		if err != nil {
			return refuse(deviceproto.CodeInternal, "%v", err)
		}
		if r := &rel.Component; !bytes.Equal(r.SignerID, sc.SignerID) {
			return refuse(deviceproto.CodeUnknownFirmware, "software-components[%d]: signer-id %x differs from release %s %s's %x", i, sc.SignerID, r.MeasurementType, r.Version, r.SignerID)
		}
	}
	return nil
}

// SetShare divides the per-source nonce rate among n nodes (netlimit
// Limiter.SetShare): each node of a cluster holds one n-th of it.
func (s *Service) SetShare(n int) { s.nonceLimit.SetShare(n) }
