package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"rampart/fleet/store"
)

// Issue 15, item 10: a store failure was answered 500 with the database's
// own error (naming tables, addresses, users) and not logged. Now the
// client gets a fixed message and the log gets the cause.
func TestStoreFailureNotSentToClient(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	a, err := New(Deps{Store: db, Log: slog.New(slog.NewTextHandler(&logBuf, nil)), Tokens: []TokenConfig{
		{Name: "v", Role: Viewer, SHA256: "d036bd6d01a1cae081d39a2f8dab751dc042de814fd60df31fcb553170950f29"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every query fails from now on
	for _, path := range []string{"/api/v1/devices", "/api/v1/devices/abc", "/api/v1/releases", "/api/v1/audit"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+"viewer-token")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "store:") || strings.Contains(w.Body.String(), "sql") {
			t.Errorf("%s: %d %s", path, w.Code, w.Body.String())
		}
	}
	if !strings.Contains(logBuf.String(), "admin request failed") || !strings.Contains(logBuf.String(), "store:") {
		t.Fatalf("cause not logged: %s", logBuf.String())
	}
	// /healthz says unavailable, and nothing about why.
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != "unavailable\n" {
		t.Fatalf("healthz: %d %q", w.Code, w.Body.String())
	}
}
