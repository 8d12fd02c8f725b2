package api

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/internal/burst"
	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store"
	"rampart/fleet/telemetry"
	"rampart/fleet/transfer"
	"rampart/fleet/trust"
	"rampart/image"
)

// Deps are what the API acts on.
type Deps struct {
	Store *store.DB
	// Transfer is the ownership service (ownership.go); its routes answer
	// 503 without it.
	Transfer *transfer.Service
	// CA rotates the fleet CA and reports the rotation (carotation.go);
	// its routes answer 503 without it.
	CA CARotator
	// Disconnect drops a device's MQTT connection.
	Disconnect    func(deviceID, reason string) bool
	Manufacturers map[string]*ecdsa.PublicKey
	ReleaseKeys   []any
	// RetiredReleaseKeys sign nothing the server registers any more.
	RetiredReleaseKeys []any
	// RetiringReleaseKeys are trusted while an active device still holds
	// them, then refused (fleet/trust RetiringKey).
	RetiringReleaseKeys []trust.RetiringKey
	// Campaigns runs firmware update campaigns; nil disables the
	// campaign routes and release uploads keep only the measurement.
	Campaigns *campaign.Engine
	Tokens    []TokenConfig
	Metrics   http.Handler // served at /metrics to viewers; may be nil
	Log       *slog.Logger
	// Refusals coalesces the audit entries of refused calls per source
	// and kind; the caller runs it. When nil each is written on its own.
	Refusals *burst.Coalescer[*store.AuditEntry]
	// OnRequest is called after each request (metrics); may be nil.
	OnRequest func(route string, status int)
	// Nodes lists the live nodes of the fleet (GET /api/v1/nodes); nil
	// lists none.
	Nodes func(ctx context.Context) ([]adminapi.Node, error)
	// Draining reports that the server is draining (health.go: /readyz
	// then answers 503); may be nil.
	Draining func() bool
	// Ready is a further readiness check of /readyz besides the store's
	// (a cluster's bus); nil: none. Its error is logged, never served.
	Ready func(ctx context.Context) error
}

// API is the admin HTTP handler.
type API struct {
	d      Deps
	tokens []token
	mux    *http.ServeMux
	routes []string
	health healthCache
	ready  healthCache // Deps.Ready
	schema healthCache // store.CheckCompatible
}

type token struct {
	TokenConfig
	digest []byte
}

// Max request bodies.
const (
	maxJSONBody = 64 << 10
)

// New checks deps and builds the handler.
func New(d Deps) (*API, error) {
	if d.Store == nil {
		return nil, errors.New("api: Store is required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Disconnect == nil {
		d.Disconnect = func(string, string) bool { return false }
	}
	a := &API{d: d, mux: http.NewServeMux()}
	for _, t := range d.Tokens {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		b, _ := hex.DecodeString(t.SHA256)
		a.tokens = append(a.tokens, token{t, b})
	}
	a.route("GET /api/v1/devices", Viewer, a.listDevices)
	a.route("GET /api/v1/devices/{id}", Viewer, a.getDevice)
	a.route("POST /api/v1/devices/{id}/suspend", Operator, a.transition(store.Suspended, true))
	a.route("POST /api/v1/devices/{id}/resume", Operator, a.transition(store.Active, false))
	a.route("POST /api/v1/devices/{id}/decommission", Admin, a.transition(store.Decommissioned, false))
	a.route("POST /api/v1/devices/{id}/reprovision", Admin, a.transition(store.Registered, false))
	a.route("GET /api/v1/endorsements", Viewer, a.listEndorsements)
	a.route("POST /api/v1/endorsements", Admin, a.importEndorsements)
	a.route("GET /api/v1/releases", Viewer, a.listReleases)
	a.route("POST /api/v1/releases", Admin, a.registerRelease)
	a.route("GET /api/v1/release-keys/retiring", Viewer, a.retiringKeys)
	a.route("GET /api/v1/nodes", Viewer, a.listNodes)
	a.route("GET /api/v1/campaigns", Viewer, a.campaigns(a.listCampaigns))
	a.route("POST /api/v1/campaigns", Operator, a.campaigns(a.createCampaign))
	a.route("GET /api/v1/campaigns/{id}", Viewer, a.campaigns(a.getCampaign))
	a.route("POST /api/v1/campaigns/{id}/{action}", Operator, a.campaigns(a.controlCampaign))
	a.route("GET /api/v1/audit", Viewer, a.audit)
	a.route("GET /api/v1/telemetry", Viewer, a.telemetry)
	a.ownershipRoutes()
	a.caRoutes()
	if d.Metrics != nil {
		a.route("GET /metrics", Viewer, d.Metrics.ServeHTTP)
	}
	openAPI := adminapi.OpenAPI()
	a.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /livez", a.livez)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(c int) { s.status = c; s.ResponseWriter.WriteHeader(c) }

type ctxKey struct{}

// Routes lists the authenticated routes ("METHOD /path") in registration order.
func (a *API) Routes() []string { return append([]string(nil), a.routes...) }

func (a *API) route(pattern string, need Role, h http.HandlerFunc) {
	a.routes = append(a.routes, pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			if a.d.OnRequest != nil {
				a.d.OnRequest(pattern, sw.status)
			}
		}()
		c, ok := a.authenticate(r)
		if !ok {
			a.deny(r, "remote:"+r.RemoteAddr, pattern, "no valid bearer token", http.StatusUnauthorized)
			sw.Header().Set("WWW-Authenticate", `Bearer realm="rampart"`)
			writeErr(sw, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		if !c.Role.Allows(need) {
			a.deny(r, c.Actor, pattern, fmt.Sprintf("role %s is weaker than the required %s", c.Role, need), http.StatusForbidden)
			writeErr(sw, http.StatusForbidden, "role %s may not call %s (needs %s)", c.Role, pattern, need)
			return
		}
		h(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// Deny audits a refused call of the console (a forged or expired
// request), the same way as the API's own refusals.
func (a *API) Deny(r *http.Request, actor, action, reason string, status int) {
	a.deny(r, actor, action, reason, status)
}

// Audit writes an entry of the console (sign-in, sign-out).
func (a *API) Audit(ctx context.Context, e *store.AuditEntry) {
	if err := a.d.Store.Audit(ctx, e); err != nil {
		a.d.Log.Error("audit write failed", "err", err)
	}
}

// deny audits a refused call: through Deps.Refusals when set, keyed by the
// caller's source and what was refused, so that a flood writes one row
// and then a count per window.
func (a *API) deny(r *http.Request, actor, action, reason string, status int) {
	e := &store.AuditEntry{Actor: actor, Action: "api " + action, Subject: r.URL.Path, Decision: store.Deny, Reason: reason}
	recorded, err := true, error(nil)
	if a.d.Refusals != nil {
		kind := strconv.Itoa(status) + " " + action
		if status == http.StatusForbidden {
			kind += " " + actor // an authenticated caller: one burst per token
		}
		recorded, err = a.d.Refusals.Add(r.Context(), netlimit.SourceOf(r.RemoteAddr).String(), kind, e)
	} else {
		err = a.d.Store.Audit(r.Context(), e)
	}
	if err != nil {
		a.d.Log.Error("audit write failed", "err", err)
	}
	lvl := slog.LevelInfo
	if !recorded {
		lvl = slog.LevelDebug
	}
	a.d.Log.Log(r.Context(), lvl, "admin call refused", "actor", actor, "action", action, "reason", reason)
}

// Authenticated reports whether r carries a valid bearer token (the
// listener's failure budget does not apply to such requests).
func (a *API) Authenticated(r *http.Request) bool {
	_, ok := a.authenticate(r)
	return ok
}

func actor(r *http.Request) string {
	if c, ok := r.Context().Value(ctxKey{}).(*caller); ok {
		return c.Actor
	}
	return "remote:" + r.RemoteAddr
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, adminapi.Error{Error: fmt.Sprintf(format, args...)})
}

// storeErr answers a store error: 404 and 409 for the request's errors,
// anything else as an internal error.
func (a *API) storeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrConflict):
		writeErr(w, http.StatusConflict, "%v", err)
	default:
		a.internal(w, err)
	}
}

// fail answers err with status, unless err is a failure of the store
// rather than of the request: that is an internal error.
func (a *API) fail(w http.ResponseWriter, status int, err error) {
	if isInternal(err) {
		a.internal(w, err)
		return
	}
	writeErr(w, status, "%v", err)
}

// internal logs err and answers 500 without it: a database error names
// tables, addresses and users, none of which a client needs.
func (a *API) internal(w http.ResponseWriter, err error) {
	a.d.Log.Error("admin request failed", "err", err)
	writeErr(w, http.StatusInternalServerError, "internal error: the server logged the cause")
}

// isInternal reports whether err is a failure of the store itself (every
// store error says "store: ", house style) other than the request's own
// ErrNotFound and ErrConflict.
func isInternal(err error) bool {
	return strings.Contains(err.Error(), "store: ") && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict)
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	st := store.State(r.URL.Query().Get("state"))
	if st != "" && !st.Valid() {
		writeErr(w, http.StatusBadRequest, "state %q: want registered, active, suspended or decommissioned", st)
		return
	}
	list, err := a.d.Store.Devices(r.Context(), st)
	if err != nil {
		a.storeErr(w, err)
		return
	}
	writeJSON(w, 200, devicesOut(list))
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.d.Store.Device(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeErr(w, err)
		return
	}
	certs, err := a.d.Store.Certificates(r.Context(), d.ID)
	if err != nil {
		a.storeErr(w, err)
		return
	}
	writeJSON(w, 200, adminapi.DeviceDetail{Device: deviceOut(d), Certificates: certificatesOut(certs)})
}

// readJSON decodes the request body into v, refusing unknown fields and
// bodies over limit; with optional, an empty body leaves v as it is. On a
// bad body it answers 400 naming what was wrong and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, optional bool, v any) bool {
	if optional && r.ContentLength == 0 {
		return true
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !(optional && errors.Is(err, io.EOF)) {
		writeErr(w, http.StatusBadRequest, "body: %v", err)
		return false
	}
	return true
}

func (a *API) transition(to store.State, needReason bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req adminapi.TransitionRequest
		if !readJSON(w, r, maxJSONBody, true, &req) {
			return
		}
		if needReason && req.Reason == "" {
			writeErr(w, http.StatusBadRequest, "reason: required to %s a device", r.URL.Path[len(r.URL.Path)-len("suspend"):])
			return
		}
		id := r.PathValue("id")
		action := "device." + map[store.State]string{store.Suspended: "suspend", store.Active: "resume", store.Decommissioned: "decommission", store.Registered: "reprovision"}[to]
		audit := &store.AuditEntry{Actor: actor(r), Action: action, Subject: id, Decision: store.Allow, Reason: req.Reason}
		before, revoked, err := a.d.Store.SetState(r.Context(), id, to, req.Reason, audit)
		if err != nil {
			if aerr := a.d.Store.Audit(r.Context(), &store.AuditEntry{Actor: actor(r), Action: action, Subject: id, Decision: store.Deny, Reason: err.Error()}); aerr != nil {
				a.d.Log.Error("audit write failed", "err", aerr)
			}
			a.storeErr(w, err)
			return
		}
		dropped := false
		if to == store.Suspended || to == store.Decommissioned {
			dropped = a.d.Disconnect(id, string(to)+": "+req.Reason)
		}
		a.d.Log.Info("device state changed", "device", id, "from", before.State, "to", to, "reason", req.Reason, "actor", actor(r), "revoked", len(revoked), "disconnected", dropped)
		d, err := a.d.Store.Device(r.Context(), id)
		if err != nil {
			a.storeErr(w, err)
			return
		}
		writeJSON(w, 200, adminapi.TransitionResult{Device: deviceOut(d), RevokedCertificates: revoked, Disconnected: dropped})
	}
}

func (a *API) listEndorsements(w http.ResponseWriter, r *http.Request) {
	list, err := a.d.Store.Devices(r.Context(), "")
	if err != nil {
		a.storeErr(w, err)
		return
	}
	out := []adminapi.Endorsement{}
	for _, d := range list {
		out = append(out, adminapi.Endorsement{DeviceID: d.ID, InstanceID: hex.EncodeToString(d.InstanceID), ImplementationID: hex.EncodeToString(d.ImplementationID),
			Manufacturer: d.Manufacturer, PublicKey: d.PublicKeyPEM, Comment: d.Comment})
	}
	writeJSON(w, 200, out)
}

func (a *API) importEndorsements(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, trust.MaxSignedSize))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body: %v", err)
		return
	}
	res, err := trust.Import(r.Context(), a.d.Store, data, a.d.Manufacturers, actor(r))
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, trust.ErrUntrusted) {
			status = http.StatusForbidden
		}
		a.fail(w, status, err)
		return
	}
	writeJSON(w, 200, importOut(res))
}

func (a *API) listReleases(w http.ResponseWriter, r *http.Request) {
	list, err := a.d.Store.Releases(r.Context())
	if err != nil {
		a.storeErr(w, err)
		return
	}
	writeJSON(w, 200, releasesOut(list))
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) {
	out := []adminapi.Node{}
	if a.d.Nodes != nil {
		list, err := a.d.Nodes(r.Context())
		if err != nil {
			a.d.Log.Error("nodes", "err", err)
			writeErr(w, http.StatusServiceUnavailable, "the cluster registry is unreachable now")
			return
		}
		out = append(out, list...)
	}
	writeJSON(w, 200, out)
}

func (a *API) registerRelease(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, deviceproto.MaxImageSize))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body: %v", err)
		return
	}
	keys, retired, err := trust.ReleaseKeysNow(r.Context(), a.d.Store, a.d.ReleaseKeys, a.d.RetiredReleaseKeys, a.d.RetiringReleaseKeys)
	if err != nil {
		a.storeErr(w, err)
		return
	}
	if err := trust.CheckNotRetired(data, retired); err != nil {
		if aerr := a.d.Store.Audit(r.Context(), &store.AuditEntry{Actor: actor(r), Action: "releases.register", Decision: store.Deny, Reason: err.Error()}); aerr != nil {
			a.d.Log.Error("audit write failed", "err", aerr)
		}
		writeErr(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	var rel *store.Release
	if a.d.Campaigns != nil {
		var sha string
		rel, sha, err = campaign.Upload(r.Context(), a.d.Store, data, keys, r.URL.Query().Get("force") == "true", r.URL.Query().Get("comment"), actor(r))
		if err == nil {
			// The content address only: the image URL devices use needs a
			// per-device download token, so no URL is advertised here.
			w.Header().Set(adminapi.ImageSHA256Header, sha)
			// Upload read it already; the image has been verified.
			if img, perr := image.Parse(data); perr == nil {
				if sc, _, serr := img.SecurityCounter(); serr == nil {
					w.Header().Set(adminapi.SecurityCounterHeader, strconv.FormatUint(uint64(sc), 10))
				}
			}
		}
	} else {
		rel, err = trust.RegisterRelease(r.Context(), a.d.Store, data, keys, r.URL.Query().Get("comment"), actor(r))
	}
	if errors.Is(err, campaign.ErrRollback) {
		a.fail(w, http.StatusConflict, err)
		return
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			a.storeErr(w, err)
			return
		}
		a.fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, 201, releaseOut(rel))
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	q, err := adminapi.ParseAuditQuery(r.URL.Query())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	list, err := a.d.Store.AuditLog(r.Context(), store.AuditFilter{Subject: q.Subject, Action: q.Action, Decision: q.Decision, Since: q.Since, Limit: q.Limit})
	if err != nil {
		a.storeErr(w, err)
		return
	}
	writeJSON(w, 200, auditOut(list))
}

func (a *API) telemetry(w http.ResponseWriter, r *http.Request) {
	q, format, err := adminapi.ParseTelemetryQuery(r.URL.Query())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	pts, err := a.d.Store.Points(r.Context(), store.PointQuery{DeviceID: q.Device, Metric: q.Metric, From: q.From, To: q.To, Limit: q.Limit})
	if err != nil {
		a.storeErr(w, err)
		return
	}
	if format == adminapi.FormatCSV {
		w.Header().Set("Content-Type", "text/csv")
		telemetry.Export(w, format, pts)
		return
	}
	// Compact, unlike the other replies: an export may hold 100,000 samples.
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(pointsOut(pts))
}
