package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"rampart/fleet/store"
)

// sessionInfo is what a page learns of its session.
type sessionInfo struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// signIn turns an admin-API token into a session. The body must be JSON
// (a cross-site form cannot send it without a preflight the server never
// allows) and the request same-origin (no login CSRF).
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if !sameOrigin(r) || r.Header.Get("Content-Type") != "application/json" {
		c.d.API.Deny(r, "remote:"+r.RemoteAddr, "console sign-in", "cross-site or non-JSON sign-in refused", http.StatusForbidden)
		writeErr(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	p, ok := c.d.API.Authenticate(body.Token)
	if !ok {
		c.d.API.Deny(r, "remote:"+r.RemoteAddr, "console sign-in", "unknown token", http.StatusUnauthorized)
		writeErr(w, http.StatusUnauthorized, "unknown token")
		return
	}
	p.Actor = "console:" + p.Name
	id, se, ok := c.sessions.create(p)
	if !ok {
		writeErr(w, http.StatusServiceUnavailable, "too many sessions: try again later")
		return
	}
	c.d.API.Audit(r.Context(), &store.AuditEntry{Actor: p.Actor, Action: "console.signin", Subject: "token:" + p.Name, Decision: store.Allow,
		Reason: "role " + string(p.Role) + " from " + r.RemoteAddr})
	setCookie(w, id, se.expires, c.d.Now())
	writeJSON(w, http.StatusOK, sessionInfo{Name: p.Name, Role: string(p.Role), CSRF: se.csrf, Expires: se.expires})
}

// whoami answers the session of the cookie, or 401: a page learns its
// CSRF token and role here after a reload.
func (c *Console) whoami(w http.ResponseWriter, r *http.Request) {
	se, ok := c.sessions.lookup(r)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "not signed in")
		return
	}
	writeJSON(w, http.StatusOK, sessionInfo{Name: se.p.Name, Role: string(se.p.Role), CSRF: se.csrf, Expires: se.expires})
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, se *session) {
	c.sessions.end(r)
	c.d.API.Audit(r.Context(), &store.AuditEntry{Actor: se.p.Actor, Action: "console.signout", Subject: "token:" + se.p.Name, Decision: store.Allow})
	setCookie(w, "", time.Time{}, c.d.Now())
	w.WriteHeader(http.StatusNoContent)
}
