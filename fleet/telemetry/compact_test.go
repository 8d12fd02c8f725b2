package telemetry

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"rampart/fleet/store"
)

// RunCompaction drains a backlog larger than one pass's bound without
// waiting for its (long) interval, keeps every sample, and stops with its
// context.
func TestRunCompaction(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const batches, per = 20, 50
	now := time.UnixMilli(1_764_000_000_000)
	d3 := 0
	for i := range batches {
		pts := make([]store.Point, per)
		for j := range pts {
			pts[j] = store.Point{DeviceID: fmt.Sprintf("d%d", j%7), Metric: "m", Time: now.Add(time.Duration(i*per+j) * time.Millisecond), Value: float64(j)}
			if j%7 == 3 {
				d3++
			}
		}
		if err := db.InsertPoints(ctx, pts); err != nil {
			t.Fatal(err)
		}
	}
	results := make(chan store.CompactResult, 100)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunCompaction(rctx, CompactConfig{Store: db, Interval: time.Hour, MaxSamples: 3 * per,
			OnCompact: func(r store.CompactResult, _ time.Duration) { results <- r }})
	}()
	moved, passes := 0, 0
	for moved < batches {
		select {
		case r := <-results:
			moved += r.Batches
			passes++
			if r.More != (moved < batches) {
				t.Fatalf("pass %d: More = %v with %d of %d batches moved", passes, r.More, moved, batches)
			}
		case <-time.After(time.Minute): // a hang guard, not a timing assertion
			t.Fatalf("%d of %d batches compacted", moved, batches)
		}
	}
	cancel()
	<-done
	if passes != 7 { // 20 batches, 3 a pass
		t.Errorf("%d passes, want 7", passes)
	}
	if n, err := db.CountPoints(ctx); err != nil || n != batches*per {
		t.Fatalf("CountPoints = %d, %v", n, err)
	}
	pts, err := db.Points(ctx, store.PointQuery{DeviceID: "d3"})
	if err != nil || len(pts) != d3 {
		t.Fatalf("Points(d3) = %d, %v", len(pts), err)
	}
	for i := 1; i < len(pts); i++ {
		if !pts[i].Time.After(pts[i-1].Time) {
			t.Fatalf("d3 out of order at %d", i)
		}
	}
}
