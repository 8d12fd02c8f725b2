package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestFleetCAStoredOnce: of several handles racing to store the fleet CA
// on one database, exactly one writes it and all read that one back.
func TestFleetCAStoredOnce(t *testing.T) {
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			ctx := context.Background()
			const nodes = 4
			dbs := make([]*store.DB, nodes)
			for i := range dbs {
				db, err := store.Open(ctx, dsn, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
			}
			if _, _, err := dbs[0].FleetCA(ctx); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("empty store: %v, want ErrNotFound", err)
			}
			var wg sync.WaitGroup
			won := make([]bool, nodes)
			for i, db := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := db.PutFleetCAIfAbsent(ctx, []byte(fmt.Sprintf("cert%d", i)), []byte(fmt.Sprintf("key%d", i)))
					if err != nil {
						t.Error(err)
					}
					won[i] = ok
				}()
			}
			wg.Wait()
			winner := -1
			for i, w := range won {
				if w {
					if winner >= 0 {
						t.Fatalf("nodes %d and %d both stored the CA", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatal("no node stored the CA")
			}
			for _, db := range dbs {
				c, k, err := db.FleetCA(ctx)
				if err != nil || string(c) != fmt.Sprintf("cert%d", winner) || string(k) != fmt.Sprintf("key%d", winner) {
					t.Fatalf("read back %q %q %v, want node %d's", c, k, err, winner)
				}
			}
		})
	}
}
