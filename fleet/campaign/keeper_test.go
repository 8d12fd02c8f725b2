package campaign_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestKeeper: of two keepers of one lease, one holds it and the other
// does not; the holder's Leader runs out (TTL − Margin after the start of
// its last renewal) when it cannot renew, before the store's expiry lets
// the other take the lease with the next epoch (OnAcquire tells it); a
// keeper closed with release frees the lease at once.
func TestKeeper(t *testing.T) {
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			now := time.UnixMilli(1_800_000_000_000)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			dsn := storetest.DSN(t, backend)
			open := func() *store.DB {
				db, err := store.Open(ctx, dsn, store.Options{Now: clock})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			var began []string
			keeper := func(name string) *campaign.Keeper {
				k := campaign.NewKeeper(open(), campaign.LeaseName, name)
				k.Now = clock
				k.OnAcquire = func(epoch int64) { began = append(began, name) }
				return k
			}
			a, b := keeper("a"), keeper("b")
			if l, err := a.Tick(ctx); err != nil || !l.Held {
				t.Fatal(l, err)
			}
			if l, err := b.Tick(ctx); err != nil || l.Held || l.Holder != "a" {
				t.Fatal(l, err)
			}
			if e, ok := a.Leader(); !ok || e != 1 {
				t.Fatalf("a: %d %v", e, ok)
			}
			if _, ok := b.Leader(); ok {
				t.Fatal("b leads too")
			}
			// a renews: the same term, OnAcquire not called again.
			advance(time.Second)
			if l, err := a.Tick(ctx); err != nil || !l.Held || l.Epoch != 1 {
				t.Fatal(l, err)
			}
			// a cannot reach the database: its Leader runs out first...
			a.DB.Close()
			advance(time.Second)
			if _, err := a.Tick(ctx); err == nil {
				t.Fatal("renewal on a closed database")
			}
			if _, ok := a.Leader(); !ok {
				t.Fatal("a lost its term before TTL-Margin")
			}
			advance(1500 * time.Millisecond) // 2.5 s after the last renewal began
			if _, ok := a.Leader(); ok {
				t.Fatal("a still leads at TTL-Margin")
			}
			if l, err := b.Tick(ctx); err != nil || l.Held {
				t.Fatalf("b took the lease before the store's expiry: %+v %v", l, err)
			}
			// ...and b takes over at the expiry, with the next epoch.
			advance(500 * time.Millisecond)
			if l, err := b.Tick(ctx); err != nil || !l.Held || l.Epoch != 2 {
				t.Fatal(l, err)
			}
			if e, ok := b.Leader(); !ok || e != 2 {
				t.Fatalf("b: %d %v", e, ok)
			}
			// Released on an orderly stop: a third keeper takes it at once.
			if err := b.Close(true); err != nil {
				t.Fatal(err)
			}
			c := keeper("c")
			if l, err := c.Tick(ctx); err != nil || !l.Held || l.Epoch != 3 {
				t.Fatal(l, err)
			}
			if len(began) != 3 || began[0] != "a" || began[1] != "b" || began[2] != "c" {
				t.Fatalf("terms began: %v", began)
			}
		})
	}
}
