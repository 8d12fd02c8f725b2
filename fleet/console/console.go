package console

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"rampart/fleet/api"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

//go:embed assets
var assets embed.FS

// CSRFHeader carries the session's CSRF token on every state-changing
// request of the pages.
const CSRFHeader = "X-Rampart-CSRF"

// Deps are what the console reads and acts through.
type Deps struct {
	API       *api.API
	Store     *store.DB
	Campaigns *campaign.Engine // nil: no campaign views
	// Online lists the devices connected now; Totals are the running
	// counts of issued certificates and stored telemetry samples (the
	// overview's rates). Either may be nil.
	Online func() []string
	Totals func() (issued, samples int64)
	Log    *slog.Logger
	Now    func() time.Time
	// SessionTTL is a session's lifetime (default 8 h); Tick the period of
	// the live updates (default 2 s).
	SessionTTL, Tick time.Duration
}

// Console is the /ui/ handler.
type Console struct {
	d        Deps
	sessions *sessions
	mux      *http.ServeMux
	hub      *hub
}

// New builds the console.
func New(d Deps) (*Console, error) {
	if d.API == nil || d.Store == nil {
		return nil, errors.New("console: API and Store are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 8 * time.Hour
	}
	if d.Tick <= 0 {
		d.Tick = 2 * time.Second
	}
	if d.Online == nil {
		d.Online = func() []string { return nil }
	}
	if d.Totals == nil {
		d.Totals = func() (int64, int64) { return 0, 0 }
	}
	c := &Console{d: d, sessions: newSessions(d.SessionTTL, d.Now), mux: http.NewServeMux()}
	c.hub = newHub(c)
	root, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(root)
	static := http.StripPrefix("/ui", files)
	c.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeErr(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
			return
		}
		static.ServeHTTP(w, r)
	})
	c.mux.HandleFunc("POST /ui/session", c.signIn)
	c.mux.HandleFunc("GET /ui/session", c.whoami)
	c.mux.HandleFunc("DELETE /ui/session", c.signed(api.Viewer, c.signOut))
	c.mux.HandleFunc("/ui/api/v1/", c.forward)
	c.mux.HandleFunc("GET /ui/data/overview", c.signed(api.Viewer, c.overview))
	c.mux.HandleFunc("GET /ui/data/devices", c.signed(api.Viewer, c.devices))
	c.mux.HandleFunc("GET /ui/data/devices/{id}", c.signed(api.Viewer, c.device))
	c.mux.HandleFunc("GET /ui/data/targets", c.signed(api.Viewer, c.targets))
	c.mux.HandleFunc("GET /ui/data/releases", c.signed(api.Viewer, c.releases))
	c.mux.HandleFunc("GET /ui/events", c.signed(api.Viewer, c.events))
	return c, nil
}

// Close stops the live updates.
func (c *Console) Close() { c.hub.close() }

// ServeHTTP implements http.Handler for every path under /ui/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store") // data and pages alike: a shared machine keeps nothing
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// Authenticated reports whether r carries a live session cookie (the
// listener's failure budget spares such requests, as it spares a valid
// bearer token).
func (c *Console) Authenticated(r *http.Request) bool {
	_, ok := c.sessions.lookup(r)
	return ok
}

// mutating reports whether the method may change state.
func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sameOrigin checks that a browser sent r from the console's own origin:
// Origin, when present, must be this host over HTTPS, and Sec-Fetch-Site,
// when present, same-origin. A non-browser client sends neither; it still
// needs the CSRF token, which only a page of the origin can read.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
		return false
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	return true
}

// guard finds r's session and, for a state-changing method, checks its
// origin and CSRF token. A refusal is answered and audited.
func (c *Console) guard(w http.ResponseWriter, r *http.Request) (*session, bool) {
	se, ok := c.sessions.lookup(r)
	if !ok {
		c.d.API.Deny(r, "remote:"+r.RemoteAddr, "console "+r.Method+" "+r.URL.Path, "no valid session", http.StatusUnauthorized)
		writeErr(w, http.StatusUnauthorized, "sign in first")
		return nil, false
	}
	if mutating(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) != 1 {
			c.d.API.Deny(r, se.p.Actor, "console "+r.Method+" "+r.URL.Path, "cross-site request refused (origin or CSRF token)", http.StatusForbidden)
			writeErr(w, http.StatusForbidden, "cross-site request refused")
			return nil, false
		}
	}
	return se, true
}

// signed wraps a console view: a session whose role allows need.
func (c *Console) signed(need api.Role, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se, ok := c.guard(w, r)
		if !ok {
			return
		}
		if !se.p.Role.Allows(need) {
			c.d.API.Deny(r, se.p.Actor, "console "+r.Method+" "+r.URL.Path, "role "+string(se.p.Role)+" is weaker than the required "+string(need), http.StatusForbidden)
			writeErr(w, http.StatusForbidden, "role %s may not do this (needs %s)", se.p.Role, need)
			return
		}
		h(w, r, se)
	}
}

// forward hands /ui/api/v1/... to the admin API's own handler as
// /api/v1/..., authorized as the session's principal; the API checks the
// role and audits as it does for a bearer token.
func (c *Console) forward(w http.ResponseWriter, r *http.Request) {
	se, ok := c.guard(w, r)
	if !ok {
		return
	}
	r2 := r.Clone(api.WithPrincipal(r.Context(), se.p))
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
	r2.URL.RawPath = ""
	r2.Header.Del("Authorization")
	r2.Header.Del("Cookie")
	c.d.API.ServeHTTP(w, r2)
	if mutating(r.Method) {
		c.hub.invalidate() // a suspended device is offline at the next overview
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": sprintf(format, args...)})
}
