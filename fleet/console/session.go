package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"rampart/fleet/api"
)

// CookieName is the session cookie: the __Host- prefix makes the browser
// refuse it unless it is Secure, host-only and for path /.
const CookieName = "__Host-rampart-session"

// maxSessions bounds the sessions held in memory; a sign-in beyond it is
// refused (503) until some expire or sign out.
const maxSessions = 10000

// maxSessionsPerToken bounds one admin-API token's sessions: a token
// signing in over and over (a script, or a leaked viewer token) ends its
// own oldest session instead of filling the table for everyone else.
const maxSessionsPerToken = 32

type session struct {
	p       api.Principal
	created time.Time
	csrf    string
	expires time.Time
	streams int // live-update streams open (sessions.mu)
}

// maxStreamsPerSession bounds one session's live-update streams, so one
// signed-in browser cannot take every stream of the console.
const maxStreamsPerSession = 8

// openStream counts a stream of se; false when it has too many.
func (s *sessions) openStream(se *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se.streams >= maxStreamsPerSession {
		return false
	}
	se.streams++
	return true
}

func (s *sessions) closeStream(se *session) {
	s.mu.Lock()
	se.streams--
	s.mu.Unlock()
}

// sessions are the signed-in browsers of this server, keyed by the
// SHA-256 of the cookie's value (the value itself is only in the cookie).
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, ttl: ttl, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create opens a session for p; it returns the cookie value, or false
// when the table is full.
func (s *sessions) create(p api.Principal) (string, *session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.m) >= maxSessions {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxSessions {
			return "", nil, false
		}
	}
	s.makeRoomFor(p.Name)
	id := randomToken()
	se := &session{p: p, created: now, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.m[sha256.Sum256([]byte(id))] = se
	return id, se, true
}

// makeRoomFor ends the oldest session of the token named name while it
// holds maxSessionsPerToken or more. Called with s.mu held.
func (s *sessions) makeRoomFor(name string) {
	for {
		n := 0
		var oldest [32]byte
		var at time.Time
		for k, v := range s.m {
			if v.p.Name != name {
				continue
			}
			if n == 0 || v.created.Before(at) {
				oldest, at = k, v.created
			}
			n++
		}
		if n < maxSessionsPerToken {
			return
		}
		delete(s.m, oldest)
	}
}

// lookup finds the unexpired session of r's cookie.
func (s *sessions) lookup(r *http.Request) (*session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	k := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if !s.now().Before(se.expires) {
		delete(s.m, k)
		return nil, false
	}
	return se, true
}

// end forgets r's session.
func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		s.mu.Lock()
		delete(s.m, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

func setCookie(w http.ResponseWriter, value string, expires time.Time, now time.Time) {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires, c.MaxAge = expires, int(expires.Sub(now).Seconds())
	}
	http.SetCookie(w, c)
}
