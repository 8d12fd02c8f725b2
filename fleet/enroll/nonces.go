package enroll

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// nonceCache holds issued server nonces until they expire. A nonce is
// consumed by its first use; later uses are replays. Nonces live in memory
// only: after a restart devices simply ask for a new one.
type nonceCache struct {
	mu   sync.Mutex
	m    map[[NonceLen]byte]nonceEntry
	ttl  time.Duration
	max  int
	now  func() time.Time
	rand io.Reader
}

type nonceEntry struct {
	expires time.Time
	used    bool
}

var errTooManyNonces = errors.New("enroll: too many outstanding nonces")

func (c *nonceCache) issue() ([]byte, time.Time, error) {
	var n [NonceLen]byte
	if _, err := io.ReadFull(c.rand, n[:]); err != nil {
		return nil, time.Time{}, fmt.Errorf("enroll: nonce: %w", err)
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.sweepLocked(now)
		if len(c.m) >= c.max {
			return nil, time.Time{}, errTooManyNonces
		}
	}
	exp := now.Add(c.ttl)
	c.m[n] = nonceEntry{expires: exp}
	return n[:], exp, nil
}

// consume marks nonce used; it returns a refusal code when the nonce was
// never issued, has expired, or was used before.
func (c *nonceCache) consume(nonce []byte) *Refusal {
	var k [NonceLen]byte
	if len(nonce) != NonceLen {
		return refuse(CodeNonceUnknown, "server nonce has %d bytes", len(nonce))
	}
	copy(k[:], nonce)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	switch {
	case !ok:
		return refuse(CodeNonceUnknown, "server nonce was not issued by this server (or has been forgotten)")
	case !now.Before(e.expires):
		delete(c.m, k)
		return refuse(CodeNonceUnknown, "server nonce expired at %s", e.expires.UTC().Format(time.RFC3339))
	case e.used:
		return refuse(CodeNonceReplayed, "server nonce was already used")
	}
	e.used = true
	c.m[k] = e
	return nil
}

func (c *nonceCache) sweepLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
}

// sweep forgets expired nonces.
func (c *nonceCache) sweep() {
	c.mu.Lock()
	c.sweepLocked(c.now())
	c.mu.Unlock()
}
