package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Role is an API caller's authority.
type Role string

// Roles, weakest first.
const (
	Viewer   Role = "viewer"   // read everything
	Operator Role = "operator" // + suspend and resume devices
	Admin    Role = "admin"    // + decommission, re-provision, import trust inputs
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// TokenConfig is one API token as configured: a name, a role and the
// SHA-256 digest (hex) of the token.
type TokenConfig struct {
	Name   string `yaml:"name" json:"name"`
	Role   Role   `yaml:"role" json:"role"`
	SHA256 string `yaml:"sha256" json:"sha256"`
}

// Validate checks the entry.
func (t TokenConfig) Validate() error {
	if t.Name == "" {
		return fmt.Errorf("api: token: name required")
	}
	if t.Role.rank() == 0 {
		return fmt.Errorf("api: token %s: role %q: want viewer, operator or admin", t.Name, t.Role)
	}
	if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("api: token %s: sha256: want 64 hex digits", t.Name)
	}
	return nil
}

// Allows reports whether a caller of role r may call a route that needs
// role need: the one authorization rule of the API and the console.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Principal is an authenticated caller: the name of its token, its role,
// and how its actor is written in the audit log ("token:<name>", or
// "console:<name>" for a console session signed in with that token).
type Principal struct {
	Name  string
	Role  Role
	Actor string
}

type caller = Principal

type principalKey struct{}

// WithPrincipal returns ctx carrying p: a request whose context carries a
// principal is authorized as p instead of by its Authorization header.
// Only in-process code sets it (the console, after checking its session
// cookie and CSRF token); nothing a client sends can.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticate finds the token's principal (the digest is compared in
// constant time with every configured one).
func (a *API) Authenticate(tok string) (Principal, bool) {
	if tok == "" {
		return Principal{}, false
	}
	d := sha256.Sum256([]byte(tok))
	var found Principal
	ok := false
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest) == 1 {
			found, ok = Principal{Name: t.Name, Role: t.Role, Actor: "token:" + t.Name}, true
		}
	}
	return found, ok
}

// authenticate finds the caller of a request: the principal its context
// carries (WithPrincipal), else its bearer token.
func (a *API) authenticate(r *http.Request) (*caller, bool) {
	if p, ok := r.Context().Value(principalKey{}).(Principal); ok {
		return &p, p.Role.rank() > 0
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, false
	}
	p, ok := a.Authenticate(tok)
	return &p, ok
}
