package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rampart/fleet/store"
)

// BenchmarkInsertPoints measures batched telemetry inserts (5000 samples a
// transaction, 500 devices) on SQLite with the default durability; the
// baseline in the same run is the same batch with synchronous=NORMAL.
//
//	go test ./fleet/store -run '^$' -bench InsertPoints -benchtime 20x
func BenchmarkInsertPoints(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			db, err := store.Open(context.Background(), b.TempDir()+"/b.db", store.Options{SQLiteSynchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			batch := make([]store.Point, 5000)
			now := time.Now()
			for i := range batch {
				batch[i] = store.Point{DeviceID: fmt.Sprintf("%032x", i%500), Metric: "v", Time: now, Value: 1.5}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := db.InsertPoints(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
