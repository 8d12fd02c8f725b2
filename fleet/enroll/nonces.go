package enroll

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"rampart/deviceproto"
)

// Server nonces are stateless until used. A nonce is
//
//	expiry (8 bytes, Unix milliseconds, big-endian) || random (8 bytes) ||
//	HMAC-SHA256(key, "rampart enroll nonce v1" || expiry || random)[:16]
//
// so the server checks that it issued a nonce, and that it has not expired,
// without having stored it: asking for nonces costs the server no memory,
// whoever asks and however often. Single use is enforced by remembering
// the nonces that have been used (usedNonces), each only until it expires,
// and a nonce is recorded there only once a token verified against an
// endorsed attestation key binds it: a client without an endorsed device
// cannot add a single entry.
//
// A single node makes the key fresh at each start, as the used set lives
// in memory: a nonce issued before a restart is not accepted after it
// (devices ask for a new one), so a nonce used before a restart cannot be
// replayed after it. The nodes of a cluster share the key (Config.NonceKey,
// derived from the shared CA) and the used set (Config.UsedNonces, an
// insert-if-absent of the nonce's tag in a JetStream KV bucket whose
// entries outlive the nonce): a nonce issued by one node is accepted by
// any, once.
type nonces struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	rand   io.Reader
	used   *usedNonces
	shared UsedNonceSet // when set, used is not
}

// UsedNonceSet records used nonces for every node of a cluster.
type UsedNonceSet interface {
	// Use records nonce id (valid until expires) as used; ErrNonceReplayed
	// when any node recorded it before.
	Use(ctx context.Context, id [16]byte, expires time.Time) error
}

// ErrNonceReplayed: the nonce was used before (UsedNonceSet.Use).
var ErrNonceReplayed = errReplay

const nonceDomain = "rampart enroll nonce v1"

// nonceID identifies a nonce in the used set: its tag.
type nonceID [16]byte

func newNonces(ttl time.Duration, maxUsed int, now func() time.Time, rand io.Reader, key []byte, shared UsedNonceSet) (*nonces, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := io.ReadFull(rand, key); err != nil {
			return nil, fmt.Errorf("enroll: nonce key: %w", err)
		}
	} else if len(key) < 32 {
		return nil, errors.New("enroll: nonce key: want at least 32 bytes")
	}
	c := &nonces{key: key, ttl: ttl, now: now, rand: rand, shared: shared}
	if shared == nil {
		c.used = newUsedNonces(ttl, maxUsed)
	}
	return c, nil
}

func (c *nonces) tag(body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(nonceDomain))
	m.Write(body)
	return m.Sum(nil)[:16]
}

// issue makes a nonce valid until now + ttl.
func (c *nonces) issue() ([]byte, time.Time, error) {
	n := make([]byte, deviceproto.NonceLen)
	exp := c.now().Add(c.ttl).Truncate(time.Millisecond)
	binary.BigEndian.PutUint64(n[:8], uint64(exp.UnixMilli()))
	if _, err := io.ReadFull(c.rand, n[8:16]); err != nil {
		return nil, time.Time{}, fmt.Errorf("enroll: nonce: %w", err)
	}
	copy(n[16:], c.tag(n[:16]))
	return n, exp, nil
}

// check verifies that this server issued nonce and that it has not
// expired; it stores nothing. It returns the nonce's identity and expiry
// for use.
func (c *nonces) check(nonce []byte) (nonceID, time.Time, *deviceproto.Refusal) {
	var id nonceID
	if len(nonce) != deviceproto.NonceLen {
		return id, time.Time{}, refuse(deviceproto.CodeNonceUnknown, "server nonce has %d bytes", len(nonce))
	}
	if !hmac.Equal(nonce[16:], c.tag(nonce[:16])) {
		return id, time.Time{}, refuse(deviceproto.CodeNonceUnknown, "server nonce was not issued by this server (or before its last restart)")
	}
	exp := time.UnixMilli(int64(binary.BigEndian.Uint64(nonce[:8])))
	now := c.now()
	if !now.Before(exp) {
		return id, time.Time{}, refuse(deviceproto.CodeNonceUnknown, "server nonce expired at %s", exp.UTC().Format(time.RFC3339))
	}
	copy(id[:], nonce[16:])
	return id, exp, nil
}

// use records a checked nonce as used; it refuses a nonce used before.
func (c *nonces) use(ctx context.Context, id nonceID, exp time.Time) *deviceproto.Refusal {
	var err error
	if c.shared != nil {
		err = c.shared.Use(ctx, id, exp)
	} else {
		err = c.used.add(id, c.now())
	}
	switch {
	case errors.Is(err, errReplay):
		return refuse(deviceproto.CodeNonceReplayed, "server nonce was already used")
	case err != nil:
		return refuse(deviceproto.CodeInternal, "%v", err)
	}
	return nil
}

var (
	errReplay   = errors.New("enroll: nonce already used")
	errUsedFull = errors.New("enroll: too many nonces used within their validity; retry later")
)

// usedNonces remembers used nonces for at least the nonce lifetime after
// their use, in two generations swapped every ttl: an entry added at t
// (of a nonce expiring at most at t + ttl) stays in the current generation
// until the next swap and then in the previous one for a whole ttl, so it
// is kept past its nonce's expiry, and forgetting costs nothing per entry.
// At most max entries are held; a use beyond that is refused (it needs
// max verified attestations within two nonce lifetimes).
type usedNonces struct {
	mu        sync.Mutex
	ttl       time.Duration
	max       int
	cur, prev map[nonceID]struct{}
	swapped   time.Time
}

func newUsedNonces(ttl time.Duration, max int) *usedNonces {
	return &usedNonces{ttl: ttl, max: max, cur: map[nonceID]struct{}{}, prev: map[nonceID]struct{}{}}
}

func (u *usedNonces) add(id nonceID, now time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rotate(now)
	if _, ok := u.cur[id]; ok {
		return errReplay
	}
	if _, ok := u.prev[id]; ok {
		return errReplay
	}
	if len(u.cur)+len(u.prev) >= u.max {
		return errUsedFull
	}
	u.cur[id] = struct{}{}
	return nil
}

// rotate swaps the generations when a ttl has passed since the last swap;
// after two ttls without use both are dropped.
func (u *usedNonces) rotate(now time.Time) {
	if u.swapped.IsZero() {
		u.swapped = now
	}
	switch d := now.Sub(u.swapped); {
	case d >= 2*u.ttl:
		u.prev, u.cur, u.swapped = map[nonceID]struct{}{}, map[nonceID]struct{}{}, now
	case d >= u.ttl:
		u.prev, u.cur, u.swapped = u.cur, map[nonceID]struct{}{}, now
	}
}

// len is the number of used nonces remembered.
func (u *usedNonces) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.cur) + len(u.prev)
}
