package console

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/fleet/api"
	"rampart/fleet/store"
)

func digest(tok string) string {
	d := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(d[:])
}

type fixture struct {
	c   *Console
	db  *store.DB
	srv *httptest.Server
	now time.Time
}

// newFixture serves a console over TLS with a store holding devices d1
// (active) and d2 (registered), and tokens for each role.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i, id := range []string{"d1", "d2"} {
		if _, err := db.PutEndorsement(ctx, &store.Device{ID: id, InstanceID: []byte{1, byte(i)}, PublicKeyPEM: "k", Manufacturer: "acme", State: store.Registered}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.SetState(ctx, "d1", store.Suspended, "x", nil); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Deps{Store: db, Tokens: []api.TokenConfig{
		{Name: "v", Role: api.Viewer, SHA256: digest("viewer-token")},
		{Name: "o", Role: api.Operator, SHA256: digest("operator-token")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, now: time.Now()}
	f.c, err = New(Deps{API: a, Store: db, Now: func() time.Time { return f.now }, Online: func() []string { return []string{"d2"} }, Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.c.Close)
	f.srv = httptest.NewTLSServer(f.c)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// signIn returns the cookie header and CSRF token of a new session.
func (f *fixture) signIn(t *testing.T, token string) (cookie, csrf string) {
	t.Helper()
	resp := f.do(t, "POST", "/ui/session", `{"token":"`+token+`"}`, map[string]string{"Content-Type": "application/json", "Origin": f.srv.URL})
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	var info sessionInfo
	json.NewDecoder(resp.Body).Decode(&info)
	c := resp.Cookies()
	if len(c) != 1 || c[0].Name != CookieName {
		t.Fatalf("cookies %v", c)
	}
	return c[0].Name + "=" + c[0].Value, info.CSRF
}

func TestSessionCookieAttributes(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "POST", "/ui/session", `{"token":"viewer-token"}`, map[string]string{"Content-Type": "application/json", "Origin": f.srv.URL})
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "Path=/", "Max-Age=28800", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if strings.Contains(set, "viewer-token") {
		t.Fatal("the cookie holds the token")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, body string
		hdr        map[string]string
		want       int
	}{
		{"unknown token", `{"token":"nope"}`, map[string]string{"Content-Type": "application/json"}, 401},
		{"cross-site", `{"token":"viewer-token"}`, map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, 403},
		{"a form", `token=viewer-token`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"unknown field", `{"token":"viewer-token","role":"admin"}`, map[string]string{"Content-Type": "application/json"}, 400},
	} {
		if got := f.do(t, "POST", "/ui/session", c.body, c.hdr).StatusCode; got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	denied, _ := f.db.AuditLog(context.Background(), store.AuditFilter{Decision: "deny"})
	if len(denied) < 3 {
		t.Fatalf("%d refusals audited, want 3", len(denied))
	}
}

func TestCSRFAndRoles(t *testing.T) {
	f := newFixture(t)
	vc, vcsrf := f.signIn(t, "viewer-token")
	oc, ocsrf := f.signIn(t, "operator-token")
	resume := "/ui/api/v1/devices/d1/resume"
	for _, c := range []struct {
		name        string
		cookie, tok string
		origin      string
		want        int
	}{
		{"no session", "", "", "", 401},
		{"viewer with its token: role", vc, vcsrf, "", 403},
		{"operator without a token", oc, "", "", 403},
		{"operator with the viewer's token", oc, vcsrf, "", 403},
		{"operator from another origin", oc, ocsrf, "https://evil.example", 403},
		{"operator", oc, ocsrf, f.srv.URL, 200},
	} {
		hdr := map[string]string{"Cookie": c.cookie, CSRFHeader: c.tok, "Content-Type": "application/json"}
		if c.origin != "" {
			hdr["Origin"] = c.origin
		}
		if got := f.do(t, "POST", resume, "{}", hdr).StatusCode; got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	d, _ := f.db.Device(context.Background(), "d1")
	if d.State != store.Active {
		t.Fatalf("d1 is %s after the operator's resume", d.State)
	}
	entries, _ := f.db.AuditLog(context.Background(), store.AuditFilter{})
	var allow, role, csrf bool
	for _, e := range entries {
		allow = allow || (e.Action == "device.resume" && e.Actor == "console:o" && e.Decision == "allow")
		role = role || (e.Actor == "console:v" && e.Decision == "deny" && strings.Contains(e.Reason, "weaker"))
		csrf = csrf || (e.Actor == "console:o" && e.Decision == "deny" && strings.Contains(e.Reason, "cross-site"))
	}
	if !allow || !role || !csrf {
		t.Fatalf("audit: allowed resume %v, role refusal %v, CSRF refusal %v", allow, role, csrf)
	}
	// Reads need no CSRF token; the Authorization header of a session's
	// request is ignored (the session decides).
	if got := f.do(t, "GET", "/ui/api/v1/devices", "", map[string]string{"Cookie": vc}).StatusCode; got != 200 {
		t.Fatalf("viewer's read: %d", got)
	}
}

func TestSessionExpiryAndSignOut(t *testing.T) {
	f := newFixture(t)
	c, _ := f.signIn(t, "viewer-token")
	if got := f.do(t, "GET", "/ui/data/overview", "", map[string]string{"Cookie": c}).StatusCode; got != 200 {
		t.Fatalf("overview: %d", got)
	}
	f.now = f.now.Add(8*time.Hour + time.Second)
	if got := f.do(t, "GET", "/ui/data/overview", "", map[string]string{"Cookie": c}).StatusCode; got != 401 {
		t.Fatalf("expired session: %d, want 401", got)
	}
	c, csrf := f.signIn(t, "viewer-token")
	if got := f.do(t, "DELETE", "/ui/session", "", map[string]string{"Cookie": c, CSRFHeader: csrf}).StatusCode; got != 204 {
		t.Fatalf("sign-out: %d", got)
	}
	if got := f.do(t, "GET", "/ui/session", "", map[string]string{"Cookie": c}).StatusCode; got != 401 {
		t.Fatalf("signed-out session: %d, want 401", got)
	}
}

func TestViewsAndEvents(t *testing.T) {
	f := newFixture(t)
	c, _ := f.signIn(t, "viewer-token")
	resp := f.do(t, "GET", "/ui/data/devices?state=registered", "", map[string]string{"Cookie": c})
	var page devicesReply
	json.NewDecoder(resp.Body).Decode(&page)
	if page.Total != 1 || len(page.Devices) != 1 || page.Devices[0].ID != "d2" || !page.Devices[0].Online {
		t.Fatalf("registered devices: %+v", page)
	}
	if got := f.do(t, "GET", "/ui/data/devices?state=bogus", "", map[string]string{"Cookie": c}).StatusCode; got != 400 {
		t.Fatalf("bad state: %d", got)
	}
	resp = f.do(t, "GET", "/ui/events", "", map[string]string{"Cookie": c})
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %s %q", resp.Status, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var o overview
			if err := json.Unmarshal([]byte(data), &o); err != nil {
				t.Fatal(err)
			}
			if o.Total != 2 || o.Online != 1 || o.States[store.Suspended] != 1 {
				t.Fatalf("overview event: %+v", o)
			}
			return
		}
	}
	t.Fatalf("no event: %v", sc.Err())
}

func TestStaticAssetsServedWithoutSession(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/ui/", "/ui/app.js", "/ui/style.css"} {
		resp := f.do(t, "GET", p, "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", p, resp.Status)
		}
	}
	if got := f.do(t, "POST", "/ui/app.js", "", nil).StatusCode; got != 405 {
		t.Fatalf("POST to an asset: %d", got)
	}
}

// TestAssetsLoadNothingFromOutside: no page, script or style names
// another server (the SVG namespace is a name, not a load).
func TestAssetsLoadNothingFromOutside(t *testing.T) {
	entries, err := assets.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := assets.ReadFile("assets/" + e.Name())
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", e.Name(), bad)
			}
		}
	}
}

// TestStreamsPerSessionBounded: one session cannot hold more than
// maxStreamsPerSession live streams.
func TestStreamsPerSessionBounded(t *testing.T) {
	f := newFixture(t)
	c, _ := f.signIn(t, "viewer-token")
	for i := range maxStreamsPerSession {
		if resp := f.do(t, "GET", "/ui/events", "", map[string]string{"Cookie": c}); resp.StatusCode != 200 {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
	}
	if got := f.do(t, "GET", "/ui/events", "", map[string]string{"Cookie": c}).StatusCode; got != http.StatusTooManyRequests {
		t.Fatalf("stream %d: %d, want 429", maxStreamsPerSession+1, got)
	}
}

// TestSessionsPerTokenBounded: one token signing in again and again keeps
// at most maxSessionsPerToken sessions (its oldest ends), so it cannot fill
// the table and lock out the other tokens' sign-ins.
func TestSessionsPerTokenBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSessions(time.Hour, func() time.Time { return now })
	var first string
	for i := range maxSessions {
		now = now.Add(time.Millisecond)
		id, _, ok := s.create(api.Principal{Name: "script"})
		if !ok {
			t.Fatalf("sign-in %d of one token refused: the table filled", i)
		}
		if i == 0 {
			first = id
		}
	}
	if len(s.m) != maxSessionsPerToken {
		t.Fatalf("%d sessions held for one token, want %d", len(s.m), maxSessionsPerToken)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: first})
	if _, ok := s.lookup(r); ok {
		t.Fatal("the token's oldest session still open")
	}
	if _, _, ok := s.create(api.Principal{Name: "operator"}); !ok {
		t.Fatal("another token's sign-in refused")
	}
}
