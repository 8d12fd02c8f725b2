package netlimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stallServer serves h behind Stall on a real listener, with the server
// timeouts the fleet server sets.
func stallServer(t *testing.T, h http.Handler, stall time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Stall(h, stall, time.Minute), ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: stall, IdleTimeout: time.Minute}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// A declared body that never comes: the handler's read fails after the
// stall and the connection is closed, far before the server's ReadTimeout.
func TestStallBodyNeverSent(t *testing.T) {
	errs := make(chan error, 1)
	addr := stallServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
	}), 200*time.Millisecond)
	c := dialFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("body read succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("body read still waiting after 30 s (stall 200 ms)")
	}
	if !closedByServer(c, 30*time.Second) {
		t.Fatal("connection kept open")
	}
}

// A handler that answers without reading the declared body (a refusal):
// the server would otherwise wait for the body to discard it until its
// ReadTimeout; the stall cuts it.
func TestStallUnreadBody(t *testing.T) {
	addr := stallServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}), 200*time.Millisecond)
	c := dialFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("answer: %v %v", resp, err)
	}
	if !closedByServer(c, 30*time.Second) {
		t.Fatal("connection kept open waiting for a body that never comes")
	}
}

// A client that never reads the response: the handler's write fails after
// the stall and the connection closes.
func TestStallResponseNeverRead(t *testing.T) {
	errs := make(chan error, 1)
	addr := stallServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		for range 256 { // 256 MiB: more than any socket buffer holds
			if _, err := w.Write(buf); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}), 200*time.Millisecond)
	c := dialFrom(t, "127.0.0.1", addr)
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("write still blocked after 60 s (stall 200 ms)")
	}
}

// A body that keeps moving may take longer than the stall in all.
func TestStallProgress(t *testing.T) {
	got := make(chan int, 1)
	addr := stallServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			got <- -1
			return
		}
		got <- len(b)
	}), time.Second)
	c := dialFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n")
	for range 30 { // 30 × 50 ms = 1.5 s in all, 50 ms at most between bytes
		c.Write([]byte{'x'})
		time.Sleep(50 * time.Millisecond)
	}
	if n := <-got; n != 30 {
		t.Fatalf("slow but moving body: read %d bytes, want 30", n)
	}
}

func TestCleanRequest(t *testing.T) {
	h := CleanRequest(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for target, want := range map[string]int{
		"/api/v1/devices/abc":          200,
		"/api/v1/devices/abc?x=%C3%A9": 200,
		"/api/v1/devices/a%00b":        400,
		"/api/v1/devices/a%ffb":        400,
		"/api/v1/devices/a%0Ab":        400,
		"/api/v1/audit?subject=%00":    400,
		"/api/v1/audit?subject=%fe":    400,
		"/api/v1/audit?s%00=1":         400,
		"/api/v1/audit?subject=%zz":    400,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", target, w.Code, want)
		}
	}
}

func TestFailures(t *testing.T) {
	c := newClock()
	l := NewLimiter(Rate{PerSecond: 1, Burst: 3}, 10, c.now)
	var limited []string
	h := Failures(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		http.Error(w, "no", http.StatusUnauthorized)
	}), l, func(r *http.Request) bool { return r.Header.Get("Authorization") == "good" },
		func(r *http.Request, s Source) { limited = append(limited, s.String()) })
	do := func(from, path, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = from
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 10 {
		if w := do("192.0.2.1:5", "/ok", ""); w.Code != 200 {
			t.Fatal("successful requests are charged")
		}
	}
	for range 3 {
		if w := do("192.0.2.1:5", "/x", ""); w.Code != 401 {
			t.Fatalf("failure within the budget: %d", w.Code)
		}
	}
	w := do("192.0.2.1:6", "/ok", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("source past its failure budget: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if len(limited) != 1 || limited[0] != "192.0.2.1" {
		t.Fatalf("onLimited calls: %v", limited)
	}
	if w := do("192.0.2.1:5", "/ok", "good"); w.Code != 200 {
		t.Fatal("an exempt (authenticated) request was refused")
	}
	if w := do("192.0.2.2:5", "/ok", ""); w.Code != 200 {
		t.Fatal("another source was refused")
	}
	c.advance(time.Second)
	if w := do("192.0.2.1:5", "/ok", ""); w.Code != 200 {
		t.Fatal("refilled source still refused")
	}
	if !strings.Contains(do("192.0.2.1:5", "/x", "").Body.String(), "no") {
		t.Fatal("handler not reached after refill")
	}
}
