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
		RunCompaction(rctx, CompactConfig{Store: db, Interval: time.Hour, MaxSamples: 3 * per, PassTarget: -1,
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

// nextPassSize scales the next pass to the target at the last pass's rate,
// grows at most twofold, and stays within its bounds.
func TestNextPassSize(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		size, samples int
		took          time.Duration
		max, want     int
	}{
		{2000, 2000, 10 * ms, 1000000, 4000},       // fast: at most twice
		{100000, 100000, 50 * ms, 1000000, 200000}, // exactly twice
		{100000, 100000, 400 * ms, 1000000, 25000}, // slow: shrinks at once
		{100000, 100000, 100 * ms, 1000000, 100000},
		{100000, 1000, 10 * time.Second, 1000000, minPassSamples}, // floor
		{800000, 800000, 10 * ms, 1000000, 1000000},               // ceiling
		{600, 600, 10 * ms, 150, 150},                             // ceiling below the floor
		{5000, 100, 10 * ms, 1000000, 5000},                       // too little to time
		{5000, 5000, 0, 1000000, 5000},
	} {
		if got := nextPassSize(c.size, c.samples, c.took, 100*ms, c.max); got != c.want {
			t.Errorf("nextPassSize(%d, %d, %v, 100ms, %d) = %d, want %d", c.size, c.samples, c.took, c.max, got, c.want)
		}
	}
}

// Passes are sized down towards PassTarget, and once a backlog has not
// drained within one Interval they take MaxSamples until it has. The
// target (1 ns) and interval (1 µs) are such that every pass overruns
// both, whatever the machine's speed.
func TestRunCompactionCatchUp(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const batches, per = 60, 100
	now := time.UnixMilli(1_764_000_000_000)
	for i := range batches {
		pts := make([]store.Point, per)
		for j := range pts {
			pts[j] = store.Point{DeviceID: fmt.Sprintf("d%d", j%7), Metric: "m", Time: now.Add(time.Duration(i*per+j) * time.Millisecond), Value: float64(j)}
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
		RunCompaction(rctx, CompactConfig{Store: db, Interval: time.Microsecond, MaxSamples: 3000, PassTarget: time.Nanosecond, PassPause: -1,
			OnCompact: func(r store.CompactResult, _ time.Duration) {
				if r.Batches > 0 { // empty passes come every microsecond
					results <- r
				}
			}})
	}()
	var got []int
	for moved := 0; moved < batches; {
		select {
		case r := <-results:
			moved += r.Batches
			got = append(got, r.Batches)
		case <-time.After(time.Minute): // a hang guard, not a timing assertion
			t.Fatalf("%d of %d batches compacted", moved, batches)
		}
	}
	cancel()
	<-done
	// 2,000 samples first; then the floor of 500; then, the backlog older
	// than one interval, 3,000 until drained.
	if want := []int{20, 5, 30, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches a pass %v, want %v", got, want)
	}
	if n, err := db.CountPoints(ctx); err != nil || n != batches*per {
		t.Fatalf("CountPoints = %d, %v", n, err)
	}
}
