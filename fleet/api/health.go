package api

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Health endpoints, unauthenticated and answering one word (the cause of
// a failure, which may name the database's address or user, goes to the
// log):
//
//   - /livez: the process serves HTTP (a load balancer or supervisor
//     restarts a node that stops answering it);
//   - /readyz: the node should receive new devices: not draining
//     (Deps.Draining), the store takes a write, Deps.Ready passes;
//   - /healthz: the store takes a write (kept for existing monitors).

// healthCheckEvery spaces the write checks /healthz and /readyz make: they
// are unauthenticated, and each check is a commit.
const healthCheckEvery = 2 * time.Second

type healthCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// check runs f at most every healthCheckEvery, logging a failure, and
// returns its latest result.
func (h *healthCache) check(ctx context.Context, a *API, what string, f func(context.Context) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) >= healthCheckEvery {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h.err = f(ctx)
		cancel()
		h.at = time.Now()
		if h.err != nil {
			a.d.Log.Error(what+" failed", "err", h.err)
		}
	}
	return h.err
}

// healthz answers "ok" when the store takes a write (a committed no-op,
// store.CheckWritable, at most every two seconds), "unavailable" with 503
// otherwise.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, a.health.check(r.Context(), a, "health check", a.d.Store.CheckWritable) == nil, "unavailable")
}

// livez answers "ok" while the process serves requests; it reads nothing.
func (a *API) livez(w http.ResponseWriter, _ *http.Request) { writeHealth(w, true, "") }

// readyz answers "ok" when the node takes new work, else 503 with
// "draining" or "unavailable".
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.d.Draining != nil && a.d.Draining() {
		writeHealth(w, false, "draining")
		return
	}
	err := a.health.check(r.Context(), a, "health check", a.d.Store.CheckWritable)
	if err == nil && a.d.Ready != nil {
		err = a.ready.check(r.Context(), a, "readiness check", a.d.Ready)
	}
	writeHealth(w, err == nil, "unavailable")
}

func writeHealth(w http.ResponseWriter, ok bool, failure string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, failure+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}
