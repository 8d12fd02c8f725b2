package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"rampart/adminapi"
	"rampart/fleet/store"
)

func newTestAPI(t *testing.T) (*API, *store.DB) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := New(Deps{Store: db, Metrics: http.NotFoundHandler(), Tokens: []TokenConfig{
		{Name: "v", Role: Viewer, SHA256: "6c2d3bdc8f5af3e8f3fb4cdb7bd1a6e6fb2ebd8ff2dba6a3ed5f1b2dd29c7cba"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return a, db
}

// TestOpenAPIMatchesRoutes keeps the served document and the handlers in step.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a, _ := newTestAPI(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(adminapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	served := append(a.Routes(), "GET /api/v1/openapi.json", "GET /healthz", "GET /livez", "GET /readyz")
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("OpenAPI paths and routes differ:\ndocumented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestAuthRefusalsAudited(t *testing.T) {
	a, db := newTestAPI(t)
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer nope", 401}, {"Basic dg==", 401}} {
		r := httptest.NewRequest("GET", "/api/v1/devices", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Fatalf("%q: %d, want %d", tc.auth, w.Code, tc.status)
		}
	}
	l, _ := db.AuditLog(context.Background(), store.AuditFilter{Decision: store.Deny})
	if len(l) != 3 {
		t.Fatalf("%d refusals audited, want 3", len(l))
	}
	if _, err := New(Deps{Store: db, Tokens: []TokenConfig{{Name: "x", Role: "root", SHA256: strings.Repeat("0", 64)}}}); err == nil {
		t.Fatal("unknown role accepted")
	}
}
