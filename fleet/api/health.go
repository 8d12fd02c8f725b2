package api

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// healthCheckEvery spaces the write checks /healthz makes: it is
// unauthenticated, and each check is a commit.
const healthCheckEvery = 2 * time.Second

type healthCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// healthz answers "ok" when the store takes a write (a committed no-op,
// store.CheckWritable, at most every two seconds), "unavailable" with 503
// otherwise. It says nothing else: the cause, which may name the
// database's address or user, goes to the log.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	h := &a.health
	h.mu.Lock()
	if time.Since(h.at) >= healthCheckEvery {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		h.err = a.d.Store.CheckWritable(ctx)
		cancel()
		h.at = time.Now()
		if h.err != nil {
			a.d.Log.Error("health check failed", "err", h.err)
		}
	}
	err := h.err
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "unavailable\n")
		return
	}
	io.WriteString(w, "ok\n")
}
