package enroll_test

import (
	"context"
	"crypto/rand"
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
