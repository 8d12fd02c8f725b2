package netlimit

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Stall bounds a request whose body or response stops moving: each read
// of the body must make progress within stall and the whole body must
// have arrived by readTotal after the handler started (the server's
// ReadTimeout counts from the request's first byte); each write of the
// response must complete within stall. A response that leaves part of the
// declared body unread closes the connection after it (instead of the
// server waiting for the rest of a body that may never come, to discard
// it, then closes it), and the final flush gets one more stall period.
//
// A large upload or a paced download may so take longer than stall in all,
// as long as it keeps moving; a client that declares a body and never
// sends it, or never reads the response, is cut after stall.
func Stall(h http.Handler, stall, readTotal time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		sw := &stallWriter{ResponseWriter: w, rc: rc, stall: stall}
		if r.Body == nil || r.Body == http.NoBody {
			// Headers read, nothing more to read: no read deadline while
			// the handler runs (it would cancel the request's context when
			// the server's background read timed out). The write stall
			// bounds what a client can hold.
			rc.SetReadDeadline(time.Time{})
		} else {
			sw.body = &stallBody{ReadCloser: r.Body, rc: rc, stall: stall, end: time.Now().Add(readTotal), declared: r.ContentLength}
			r.Body = sw.body
		}
		h.ServeHTTP(sw, r)
		if !sw.wrote {
			sw.WriteHeader(http.StatusOK) // what the server would send
		}
		rc.SetWriteDeadline(time.Now().Add(stall))
		if sw.body != nil && sw.body.unread() {
			// The server closes the body after flushing the answer, which
			// reads what is left of it; the connection is closing anyway.
			rc.SetReadDeadline(time.Now())
		}
	})
}

type stallBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	stall    time.Duration
	end      time.Time
	declared int64 // Content-Length, -1 when unknown (chunked)
	read     int64
	eof      bool
	failed   bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.eof || b.failed {
		return b.ReadCloser.Read(p)
	}
	d := time.Now().Add(b.stall)
	if d.After(b.end) {
		d = b.end
	}
	b.rc.SetReadDeadline(d)
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		// The whole body is in: the server now reads in the background
		// only to notice the client leaving, and a deadline would cancel
		// the request's context.
		b.eof = true
		b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		b.failed = true
	}
	return n, err
}

// unread reports whether part of the body may still be on the wire.
func (b *stallBody) unread() bool {
	if b.eof {
		return false
	}
	if b.failed || b.declared < 0 {
		return true
	}
	return b.read < b.declared
}

type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	body  *stallBody // nil without a body
	wrote bool
}

// commit runs before the response header goes out.
func (w *stallWriter) commit() {
	if w.wrote {
		return
	}
	w.wrote = true
	if w.body != nil && w.body.unread() {
		w.Header().Set("Connection", "close")
	}
}

func (w *stallWriter) WriteHeader(code int) {
	if code >= 200 { // not for 1xx informational answers
		w.commit()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.commit()
	w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	return w.ResponseWriter.Write(p)
}

func (w *stallWriter) Flush() {
	w.commit()
	w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	w.rc.Flush()
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// CleanRequest answers 400 to a request whose path or query holds a NUL
// or another control character, or bytes that are not UTF-8, or whose
// query does not parse: such values reach no handler, no store and no log.
func CleanRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanText(r.URL.Path) || !cleanQuery(r.URL.RawQuery) {
			http.Error(w, "bad request: the path or query holds a control character or invalid UTF-8", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func cleanQuery(raw string) bool {
	if raw == "" {
		return true
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return false
	}
	for k, vs := range q {
		if !cleanText(k) {
			return false
		}
		for _, v := range vs {
			if !cleanText(v) {
				return false
			}
		}
	}
	return true
}

// cleanText reports whether s is UTF-8 without C0 control characters or DEL.
func cleanText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// Failures limits the failed requests of each source. A request from a
// source with no failure budget left is answered 429 Too Many Requests
// (with Retry-After) before h runs; each response of h with a status of
// 400 or more charges its source's budget. Requests for which exempt
// returns true (an authenticated caller) are neither refused nor charged.
// onLimited, when not nil, is called for each request refused.
func Failures(h http.Handler, l *Limiter, exempt func(*http.Request) bool, onLimited func(*http.Request, Source)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if exempt != nil && exempt(r) {
			h.ServeHTTP(w, r)
			return
		}
		src := SourceOf(r.RemoteAddr)
		if l.Blocked(src) {
			if onLimited != nil {
				onLimited(r, src)
			}
			TooMany(w, l.RetryAfter(src))
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status >= 400 && sw.status != http.StatusTooManyRequests {
			l.Charge(src)
		}
	})
}

// TooMany answers 429 with a Retry-After of at least one second. The
// connection stays open: a refusal on a kept-alive connection costs the
// server far less than the TLS handshake of a new one.
func TooMany(w http.ResponseWriter, after time.Duration) {
	s := int(after / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
	http.Error(w, "too many requests from this address: retry later", http.StatusTooManyRequests)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
