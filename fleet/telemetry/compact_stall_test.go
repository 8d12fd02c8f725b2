package telemetry

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
)

var (
	stallRun   = flag.Duration("telemetry.stall", 0, "run TestCompactionStall for this long per case (e.g. 20s); 0 skips it")
	stallEvery = flag.Duration("telemetry.stall.interval", 10*time.Second, "TestCompactionStall: compaction interval")
	stallRate  = flag.Int("telemetry.stall.rate", 200000, "TestCompactionStall: ingest rate, samples/s in 5,000-sample batches")
)

// TestCompactionStall measures how long ingest commits wait while
// compaction runs on SQLite: one goroutine inserts 5,000-sample batches at
// -telemetry.stall.rate while RunCompaction runs (interval
// -telemetry.stall.interval, default 10 s), first
// with one fixed 1,000,000-sample bound a pass and no pause (the behaviour
// before passes were sized by time), then with the default pass target and
// pause. It reports commit latency percentiles and compaction throughput;
// it asserts only that every sample is stored once. Behind a flag:
//
//	go test ./fleet/telemetry -run TestCompactionStall -telemetry.stall=20s -v
func TestCompactionStall(t *testing.T) {
	if *stallRun <= 0 {
		t.Skip("set -telemetry.stall=20s to measure")
	}
	for _, shape := range []struct {
		name             string
		devices, metrics int
	}{{"500x1", 500, 1}, {"2000x64", 2000, 64}} {
		for _, mode := range []struct {
			name   string
			target time.Duration
		}{{"fixed-1M", -1}, {"target-100ms", 0}} {
			t.Run(shape.name+"/"+mode.name, func(t *testing.T) {
				stall(t, shape.devices, shape.metrics, CompactConfig{Interval: *stallEvery, PassTarget: mode.target, PassPause: map[bool]time.Duration{true: -1, false: 0}[mode.target < 0]})
			})
		}
	}
}

func stall(t *testing.T, devices, metrics int, cfg CompactConfig) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg.Store = db
	var mu sync.Mutex
	var passes []time.Duration
	var maxWrite time.Duration
	compacted := 0
	cfg.OnCompact = func(r store.CompactResult, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if r.Batches > 0 {
			passes = append(passes, took)
			compacted += r.Samples
			maxWrite = max(maxWrite, r.Write) // BASELINE-CUT
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); RunCompaction(cctx, cfg) }()

	ids := make([]string, devices)
	for d := range ids {
		ids[d] = fmt.Sprintf("%032x", d)
	}
	names := make([]string, metrics)
	for m := range names {
		names[m] = fmt.Sprintf("m%d", m)
	}
	const per = 5000
	every := time.Duration(float64(time.Second) * per / float64(*stallRate))
	t0 := time.Now()
	batch := make([]store.Point, per)
	// lat is each InsertPoints call; due is from when the batch was due,
	// so that a stall counts for every batch it delayed, as devices
	// publishing on their own schedule would see it (the loop is
	// synchronous: during a 3 s stall it offers no batch).
	var lat, due []time.Duration
	k, inserted := 0, 0
	start := time.Now()
	for next := start; time.Since(start) < *stallRun; next = next.Add(every) {
		time.Sleep(time.Until(next))
		for j := range batch {
			series := k % (devices * metrics)
			batch[j] = store.Point{DeviceID: ids[series/metrics], Metric: names[series%metrics],
				Time: t0.Add(time.Duration(k/(devices*metrics)) * time.Second), Value: float64(k % 100)}
			k++
		}
		s := time.Now()
		if err := db.InsertPoints(ctx, batch); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(s))
		due = append(due, time.Since(next))
		inserted += per
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	slices.Sort(lat)
	slices.Sort(due)
	pct := func(l []time.Duration, p float64) time.Duration {
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(10 * time.Microsecond)
	}
	mu.Lock()
	slices.Sort(passes)
	var maxPass, sum time.Duration
	for _, p := range passes {
		sum += p
	}
	if len(passes) > 0 {
		maxPass = passes[len(passes)-1]
	}
	t.Logf("ingest %d samples in %v (%.0f samples/s offered); commit latency p50 %v p99 %v max %v, from due p50 %v p99 %v max %v; compaction %d passes, %d samples (%.0f samples/s while running, %.0f%% of ingest), pass max %v mean %v, write transaction max %v",
		inserted, elapsed.Round(time.Millisecond), float64(inserted)/elapsed.Seconds(), pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1), pct(due, 0.5), pct(due, 0.99), pct(due, 1),
		len(passes), compacted, float64(compacted)/sum.Seconds(), 100*float64(compacted)/float64(inserted), maxPass.Round(time.Millisecond), (sum / time.Duration(max(1, len(passes)))).Round(time.Millisecond), maxWrite.Round(time.Millisecond))
	mu.Unlock()
	if n, err := db.CountPoints(ctx); err != nil || n != int64(inserted) {
		t.Fatalf("CountPoints = %d, %v; want %d", n, err, inserted)
	}
}
