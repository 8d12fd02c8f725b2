package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"rampart/fleet/store"
)

// TestLivezReadyz: /livez answers ok while the process serves; /readyz
// answers ok only when the node is not draining, the store takes a write
// and the extra readiness check passes. Neither needs a token, and a
// failure says one word: the cause goes to the log.
func TestLivezReadyz(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var draining atomic.Bool
	var readyErr atomic.Pointer[error]
	var logBuf bytes.Buffer
	a, err := New(Deps{Store: db, Log: slog.New(slog.NewTextHandler(&logBuf, nil)), Draining: draining.Load,
		Ready: func(context.Context) error {
			if p := readyErr.Load(); p != nil {
				return *p
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code, w.Body.String()
	}
	expect := func(step, path string, code int, body string) {
		t.Helper()
		if c, b := get(path); c != code || b != body {
			t.Fatalf("%s: %s = %d %q, want %d %q", step, path, c, b, code, body)
		}
	}
	expect("running", "/livez", http.StatusOK, "ok\n")
	expect("running", "/readyz", http.StatusOK, "ok\n")

	draining.Store(true)
	expect("draining", "/readyz", http.StatusServiceUnavailable, "draining\n")
	expect("draining", "/livez", http.StatusOK, "ok\n")
	draining.Store(false)

	// The extra check (a cluster's bus) fails: its cause is logged only.
	// The checks are cached for healthCheckEvery: expire them.
	bad := errors.New("nats: no servers available for connection at nats://10.0.0.7:4222")
	readyErr.Store(&bad)
	a.ready.at = a.ready.at.Add(-healthCheckEvery)
	expect("bus down", "/readyz", http.StatusServiceUnavailable, "unavailable\n")
	if !strings.Contains(logBuf.String(), "10.0.0.7") {
		t.Fatalf("cause not logged: %s", logBuf.String())
	}
	readyErr.Store(nil)
	a.ready.at = a.ready.at.Add(-healthCheckEvery)
	expect("bus back", "/readyz", http.StatusOK, "ok\n")

	// The store goes away: not ready, still alive.
	db.Close()
	a.health.at = a.health.at.Add(-healthCheckEvery)
	expect("store down", "/readyz", http.StatusServiceUnavailable, "unavailable\n")
	expect("store down", "/livez", http.StatusOK, "ok\n")
}
