package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// clock is a settable clock shared by several DB handles.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock        { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func openAt(t *testing.T, dsn string, c *clock) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLeaseAcquireRenewExpireRelease(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(time.UnixMilli(1_800_000_000_000))
			dsn := storetest.DSN(t, b)
			a, bdb := openAt(t, dsn, clk), openAt(t, dsn, clk) // two nodes on one database

			l, err := a.AcquireLease(ctx, "campaigns", "node-a", 3*time.Second)
			if err != nil || !l.Held || l.Holder != "node-a" || l.Epoch != 1 || !l.Expires.Equal(clk.now().Add(3*time.Second)) {
				t.Fatalf("first acquire: %+v %v", l, err)
			}
			// Another holder is refused while it is held, and told whose it is.
			l, err = bdb.AcquireLease(ctx, "campaigns", "node-b", 3*time.Second)
			if err != nil || l.Held || l.Holder != "node-a" || l.Epoch != 1 {
				t.Fatalf("held by another: %+v %v", l, err)
			}
			// Renewing keeps the epoch and moves the expiry.
			clk.advance(time.Second)
			l, err = a.AcquireLease(ctx, "campaigns", "node-a", 3*time.Second)
			if err != nil || !l.Held || l.Epoch != 1 || !l.Expires.Equal(clk.now().Add(3*time.Second)) {
				t.Fatalf("renew: %+v %v", l, err)
			}
			// Just before the expiry it is still a's; at the expiry b takes it
			// over with the next epoch.
			clk.advance(3*time.Second - time.Millisecond)
			if l, err = bdb.AcquireLease(ctx, "campaigns", "node-b", 3*time.Second); err != nil || l.Held {
				t.Fatalf("before expiry: %+v %v", l, err)
			}
			clk.advance(time.Millisecond)
			l, err = bdb.AcquireLease(ctx, "campaigns", "node-b", 3*time.Second)
			if err != nil || !l.Held || l.Holder != "node-b" || l.Epoch != 2 {
				t.Fatalf("takeover at expiry: %+v %v", l, err)
			}
			// The deposed holder cannot renew.
			if l, err = a.AcquireLease(ctx, "campaigns", "node-a", 3*time.Second); err != nil || l.Held || l.Holder != "node-b" {
				t.Fatalf("deposed renews: %+v %v", l, err)
			}
			// Releasing a lease one does not hold changes nothing.
			if err := a.ReleaseLease(ctx, "campaigns", "node-a"); err != nil {
				t.Fatal(err)
			}
			if l, _ = a.AcquireLease(ctx, "campaigns", "node-a", time.Second); l.Held {
				t.Fatalf("release by a non-holder freed the lease: %+v", l)
			}
			// Released: free at once, and taking it back (even by the same
			// holder) is a new epoch.
			if err := bdb.ReleaseLease(ctx, "campaigns", "node-b"); err != nil {
				t.Fatal(err)
			}
			ls, err := a.Leases(ctx)
			if err != nil || len(ls) != 1 || ls[0].Held || ls[0].Holder != "" || ls[0].Epoch != 2 {
				t.Fatalf("leases after release: %+v %v", ls, err)
			}
			l, err = bdb.AcquireLease(ctx, "campaigns", "node-b", 3*time.Second)
			if err != nil || !l.Held || l.Epoch != 3 {
				t.Fatalf("reacquire after release: %+v %v", l, err)
			}
			// Leases are independent of each other.
			if l, err = a.AcquireLease(ctx, "telemetry-maintenance", "node-a", 3*time.Second); err != nil || !l.Held || l.Epoch != 1 {
				t.Fatalf("second lease: %+v %v", l, err)
			}
			ls, err = bdb.Leases(ctx)
			if err != nil || len(ls) != 2 || ls[0].Name != "campaigns" || !ls[0].Held || ls[0].Holder != "node-b" ||
				ls[1].Name != "telemetry-maintenance" || ls[1].Holder != "node-a" {
				t.Fatalf("leases: %+v %v", ls, err)
			}
			if _, err := a.AcquireLease(ctx, "", "x", time.Second); err == nil {
				t.Fatal("empty name accepted")
			}
			if _, err := a.AcquireLease(ctx, "x", "x", 0); err == nil {
				t.Fatal("zero ttl accepted")
			}
		})
	}
}

// TestLeaseRace: holders on separate connections race for a free (and then
// an expired) lease; exactly one wins each round, and each takeover is a
// new epoch.
func TestLeaseRace(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(time.UnixMilli(1_800_000_000_000))
			dsn := storetest.DSN(t, b)
			const nodes = 4
			dbs := make([]*store.DB, nodes)
			for i := range dbs {
				dbs[i] = openAt(t, dsn, clk)
			}
			names := []string{"n0", "n1", "n2", "n3"}
			var lastEpoch int64
			for round := 0; round < 20; round++ {
				var wg sync.WaitGroup
				got := make([]store.Lease, nodes)
				errs := make([]error, nodes)
				start := make(chan struct{})
				for i := range dbs {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						<-start
						got[i], errs[i] = dbs[i].AcquireLease(ctx, "race", names[(i+round)%nodes], 3*time.Second)
					}(i)
				}
				close(start)
				wg.Wait()
				winners := 0
				var winner store.Lease
				for i := range got {
					if errs[i] != nil {
						t.Fatalf("round %d: %v", round, errs[i])
					}
					if got[i].Held {
						winners++
						winner = got[i]
					}
				}
				if winners != 1 {
					t.Fatalf("round %d: %d winners: %+v", round, winners, got)
				}
				for i := range got {
					if !got[i].Held && (got[i].Holder != winner.Holder || got[i].Epoch != winner.Epoch) {
						t.Fatalf("round %d: loser sees %+v, winner %+v", round, got[i], winner)
					}
				}
				if round > 0 && winner.Epoch != lastEpoch+1 && winner.Epoch != lastEpoch {
					t.Fatalf("round %d: epoch %d after %d", round, winner.Epoch, lastEpoch)
				}
				lastEpoch = winner.Epoch
				clk.advance(3 * time.Second) // expire it for the next round
			}
		})
	}
}

// TestLeaseFence: a write fenced by an epoch commits while the lease has it
// and is refused with ErrFenced once another holder took the lease.
func TestLeaseFence(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(time.UnixMilli(1_800_000_000_000))
			db := storetest.Open(t, b, clk.now)
			if err := db.FencedWriteForTest(ctx, store.Fence{Name: "campaigns", Epoch: 1}); !errors.Is(err, store.ErrFenced) {
				t.Fatalf("write under a lease that does not exist: %v", err)
			}
			l, err := db.AcquireLease(ctx, "campaigns", "a", time.Second)
			if err != nil || !l.Held {
				t.Fatal(l, err)
			}
			if err := db.FencedWriteForTest(ctx, store.Fence{Name: "campaigns", Epoch: l.Epoch}); err != nil {
				t.Fatalf("write by the holder: %v", err)
			}
			// Expired but not taken over: nobody else wrote, the write stands.
			clk.advance(2 * time.Second)
			if err := db.FencedWriteForTest(ctx, store.Fence{Name: "campaigns", Epoch: l.Epoch}); err != nil {
				t.Fatalf("write by the holder of an expired lease nobody took: %v", err)
			}
			if l2, err := db.AcquireLease(ctx, "campaigns", "b", time.Second); err != nil || !l2.Held || l2.Epoch != l.Epoch+1 {
				t.Fatal(l2, err)
			}
			if err := db.FencedWriteForTest(ctx, store.Fence{Name: "campaigns", Epoch: l.Epoch}); !errors.Is(err, store.ErrFenced) {
				t.Fatalf("write by the deposed holder: %v", err)
			}
		})
	}
}
