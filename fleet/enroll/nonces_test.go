package enroll

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"rampart/deviceproto"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// A nonce is accepted only as issued by this server's key, before its
// expiry, and once.
func TestNonceCheck(t *testing.T) {
	c := &testClock{t: time.Unix(1_764_000_000, 0)}
	n, err := newNonces(5*time.Minute, 100, c.now, rand.Reader, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce, exp, err := n.issue()
	if err != nil || len(nonce) != deviceproto.NonceLen || !exp.Equal(c.t.Add(5*time.Minute)) {
		t.Fatalf("issue: %x %v %v", nonce, exp, err)
	}
	for i := range deviceproto.NonceLen { // every byte is covered by the MAC
		bad := append([]byte(nil), nonce...)
		bad[i] ^= 1
		if _, _, ref := n.check(bad); ref == nil || ref.Code != deviceproto.CodeNonceUnknown {
			t.Fatalf("nonce with byte %d flipped: %v", i, ref)
		}
	}
	if _, _, ref := n.check(nonce[:31]); ref == nil || ref.Code != deviceproto.CodeNonceUnknown {
		t.Fatalf("short nonce: %v", ref)
	}
	other, _ := newNonces(5*time.Minute, 100, c.now, rand.Reader, nil, nil) // after a restart: a new key
	if _, _, ref := other.check(nonce); ref == nil || ref.Code != deviceproto.CodeNonceUnknown {
		t.Fatalf("nonce of a previous key accepted: %v", ref)
	}
	id, e, ref := n.check(nonce)
	if ref != nil || !e.Equal(exp) {
		t.Fatalf("check: %v %v", e, ref)
	}
	if ref := n.use(context.Background(), id, e); ref != nil {
		t.Fatalf("first use: %v", ref)
	}
	if ref := n.use(context.Background(), id, e); ref == nil || ref.Code != deviceproto.CodeNonceReplayed {
		t.Fatalf("second use: %v", ref)
	}
	c.t = exp
	if _, _, ref := n.check(nonce); ref == nil || ref.Code != deviceproto.CodeNonceUnknown {
		t.Fatalf("expired nonce: %v", ref)
	}
}

// The used set keeps each nonce at least until it expires, forgets it
// after, and holds at most its bound.
func TestUsedNoncesRetention(t *testing.T) {
	const ttl = time.Minute
	c := &testClock{t: time.Unix(1_764_000_000, 0)}
	n, _ := newNonces(ttl, 1000, c.now, rand.Reader, nil, nil)
	type used struct {
		id  nonceID
		exp time.Time
	}
	var all []used
	// Use nonces at irregular times over 10 lifetimes; each must stay
	// refused as a replay until it expires.
	for step := range 400 {
		c.t = c.t.Add(time.Duration(step%7) * 700 * time.Millisecond)
		nonce, _, _ := n.issue()
		id, exp, ref := n.check(nonce)
		if ref != nil {
			t.Fatal(ref)
		}
		if ref := n.use(context.Background(), id, exp); ref != nil {
			t.Fatal(ref)
		}
		all = append(all, used{id, exp})
		for _, u := range all {
			if c.t.Before(u.exp) {
				if err := n.used.add(u.id, c.t); err != errReplay {
					t.Fatalf("step %d: nonce expiring at %v forgotten at %v", step, u.exp, c.t)
				}
			}
		}
	}
	if got := n.used.len(); got > 2*int(ttl/(3*700*time.Millisecond))+10 {
		t.Fatalf("%d used nonces held after 10 lifetimes", got)
	}
	c.t = c.t.Add(2 * ttl)
	n.issue()
	n.used.add(nonceID{1}, c.t)
	if got := n.used.len(); got != 1 {
		t.Fatalf("%d used nonces held two lifetimes later, want the new one", got)
	}
	small, _ := newNonces(ttl, 2, c.now, rand.Reader, nil, nil)
	small.used.add(nonceID{1}, c.t)
	small.used.add(nonceID{2}, c.t)
	if ref := small.use(context.Background(), nonceID{3}, c.t.Add(ttl)); ref == nil || ref.Code != deviceproto.CodeInternal {
		t.Fatalf("use beyond the bound: %v", ref)
	}
}

// FuzzNonceCheck: no input but a nonce this key issued passes the check,
// and none panics it. Seeded with issued nonces and their mutations.
func FuzzNonceCheck(f *testing.F) {
	c := &testClock{t: time.Unix(1_764_000_000, 0)}
	n, _ := newNonces(5*time.Minute, 100, c.now, rand.Reader, nil, nil)
	good, _, _ := n.issue()
	f.Add(good)
	f.Add(good[:16])
	f.Add(make([]byte, deviceproto.NonceLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, ref := n.check(b)
		if ref == nil && string(b) != string(good) {
			t.Fatalf("forged nonce %x accepted", b)
		}
	})
}
