package api

import (
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

type caller struct {
	name string
	role Role
}

// authenticate finds the caller of a request from its bearer token.
func (a *API) authenticate(r *http.Request) (*caller, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil, false
	}
	d := sha256.Sum256([]byte(tok))
	var found *caller
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest) == 1 {
			found = &caller{name: t.Name, role: t.Role}
		}
	}
	return found, found != nil
}
