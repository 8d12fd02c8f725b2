package enroll_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/enroll"
	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store/storetest"
)

// TestNoncesInStoreAcrossServices: two services (two nodes) sharing the
// nonce key and the store, recording nonces in the enrollment's store
// transaction: a nonce one issues enrolls once at the other, and its
// replay is refused by both, on SQLite and PostgreSQL.
func TestNoncesInStoreAcrossServices(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" {
				storetest.PostgresDSN(t) // skips without PostgreSQL
			}
			e := newBenchEnv(t, backend)
			key := make([]byte, 32)
			rand.Read(key)
			svc := func() *enroll.Service {
				s, err := enroll.NewService(enroll.Config{Store: e.db, CA: e.ca, Rand: rand.Reader, CertTTL: time.Hour, NonceKey: key, NoncesInStore: true,
					NonceRate: netlimit.Rate{PerSecond: 1e9, Burst: 1 << 30}})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			a, b := svc(), svc()
			e.svc, e.handler = a, a.Handler() // a issues the nonces
			ctx := context.Background()
			r := e.requests(t, 1)[0]
			if _, _, ref := b.Enroll(ctx, r.raw, false, "test"); ref != nil {
				t.Fatalf("b refuses a's nonce: %v", ref)
			}
			for name, s := range map[string]*enroll.Service{"a": a, "b": b} {
				if _, _, ref := s.Enroll(ctx, r.raw, false, "test"); ref == nil || ref.Code != deviceproto.CodeNonceReplayed {
					t.Fatalf("replay on %s: %v, want %s", name, ref, deviceproto.CodeNonceReplayed)
				}
			}
		})
	}
}

// usedSet is a used-nonce set in memory, standing for the nonce bucket
// of the previous release's nodes (fleet/cluster
// TestNonceSingleAcrossReleases tests the bucket itself). usedElsewhere
// says every other nonce was used there.
type usedSet struct {
	mu            sync.Mutex
	used          map[[16]byte]bool
	usedElsewhere bool
}

func (u *usedSet) Use(_ context.Context, id [16]byte, _ time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.used[id] || u.usedElsewhere {
		return enroll.ErrNonceReplayed
	}
	u.used[id] = true
	return nil
}

// TestNoncesInStoreHonourUsedSet: with nonces in the store and a used
// set as well (a rolling upgrade: the previous release's nodes record
// nonces in the set only), a nonce used here is recorded in the set, for
// them, and one they used is refused here. Fails on the code that ignored
// UsedNonces when NoncesInStore was set.
func TestNoncesInStoreHonourUsedSet(t *testing.T) {
	e := newBenchEnv(t, "sqlite")
	key := make([]byte, 32)
	rand.Read(key)
	set := &usedSet{used: map[[16]byte]bool{}}
	s, err := enroll.NewService(enroll.Config{Store: e.db, CA: e.ca, Rand: rand.Reader, CertTTL: time.Hour, NonceKey: key, NoncesInStore: true, UsedNonces: set,
		NonceRate: netlimit.Rate{PerSecond: 1e9, Burst: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.handler = s, s.Handler()
	ctx := context.Background()
	rs := e.requests(t, 2)
	if _, _, ref := s.Enroll(ctx, rs[0].raw, false, "test"); ref != nil {
		t.Fatalf("first use: %v", ref)
	}
	if len(set.used) != 1 {
		t.Fatalf("the set holds %d nonces after one enrollment, want 1", len(set.used))
	}
	set.usedElsewhere = true // rs[1]'s nonce was used at a node of the previous release
	if _, _, ref := s.Enroll(ctx, rs[1].raw, false, "test"); ref == nil || ref.Code != deviceproto.CodeNonceReplayed {
		t.Fatalf("a nonce used at a node of the previous release: %v, want %s", ref, deviceproto.CodeNonceReplayed)
	}
}
