package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rampart/fleet/store"
)

// Benchmarks of the telemetry store on SQLite (the default database), each
// with its baseline in the same run:
//
//	go test ./fleet/store -run '^$' -bench 'InsertPoints|PointsOneDevice' -benchtime 30x
//
// InsertPoints: 5,000-sample batches (500 devices), the batch store
// (one row a call) against the per-sample rows of migrations 1-2 (same
// schema, indexes and prepared 200-row INSERTs), at synchronous FULL (the
// default) and NORMAL; "commit" is a one-sample call: the cost of one
// durable transaction, the floor of any batch.

func loadBatch(n, devices int, t0 time.Time) []store.Point {
	batch := make([]store.Point, n)
	for i := range batch {
		batch[i] = store.Point{DeviceID: fmt.Sprintf("%032x", i%devices), Metric: "v", Time: t0.Add(time.Duration(i/devices) * time.Millisecond), Value: 1.5 + float64(i%7)}
	}
	return batch
}

func openBench(b *testing.B, sync string) *store.DB {
	db, err := store.Open(context.Background(), b.TempDir()+"/b.db", store.Options{SQLiteSynchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkInsertPoints(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, path := range []string{"batch", "rows", "commit"} {
			b.Run(path+"/"+sync, func(b *testing.B) {
				db := openBench(b, sync)
				batch := loadBatch(5000, 500, time.Now())
				insert := func() error { return db.InsertPoints(ctx, batch) }
				switch path {
				case "rows":
					if err := db.CreateLegacyTelemetry(ctx, "telemetry_rows"); err != nil {
						b.Fatal(err)
					}
					insert = func() error { return db.InsertPointsRows(ctx, "telemetry_rows", batch) }
				case "commit":
					batch = batch[:1]
				}
				for b.Loop() {
					if err := insert(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			})
		}
	}
}

// BenchmarkCompactTelemetry: draining a backlog of 2,000,000 pending
// samples (400 batches of 5,000: 10 s at 200,000 samples/s) with the
// default pass bound, timed alone. "500x1": 500 series, 4,000 new samples
// each (new chunks); "2000x64": 128,000 series, about 16 each (merged into
// each series' latest chunk after the first backlog).
//
//	go test ./fleet/store -run '^$' -bench CompactTelemetry -benchtime 2x
func BenchmarkCompactTelemetry(b *testing.B) {
	ctx := context.Background()
	for _, shape := range []struct {
		name             string
		devices, metrics int
	}{{"500x1", 500, 1}, {"2000x64", 2000, 64}} {
		b.Run(shape.name, func(b *testing.B) {
			db := openBench(b, "FULL")
			t0 := time.Now()
			ids := make([]string, shape.devices)
			for d := range ids {
				ids[d] = fmt.Sprintf("%032x", d)
			}
			samples, passes, k := 0, 0, 0
			batch := make([]store.Point, 5000)
			for b.Loop() {
				b.StopTimer()
				for range 400 {
					for j := range batch {
						series := k % (shape.devices * shape.metrics)
						batch[j] = store.Point{DeviceID: ids[series/shape.metrics], Metric: fmt.Sprintf("m%d", series%shape.metrics),
							Time: t0.Add(time.Duration(k/(shape.devices*shape.metrics)) * time.Second), Value: float64(k % 100)}
						k++
					}
					if err := db.InsertPoints(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for {
					r, err := db.CompactTelemetry(ctx, 0)
					if err != nil {
						b.Fatal(err)
					}
					samples += r.Samples
					passes++
					if !r.More {
						break
					}
				}
			}
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(b.Elapsed().Seconds()/float64(passes), "s/pass")
		})
	}
}

// BenchmarkPointsOneDevice: one device's samples of one metric over a
// 1-hour window (360 samples) and over the whole 12 hours (4,320), among
// 50 devices x 2 metrics every 10 s (432,000 samples): compacted chunks
// against the per-sample table with its (device_id, metric, ts_ms) index.
func BenchmarkPointsOneDevice(b *testing.B) {
	ctx := context.Background()
	db := openBench(b, "NORMAL") // filling speed only; queries do not commit
	if err := db.CreateLegacyTelemetry(ctx, "telemetry_rows"); err != nil {
		b.Fatal(err)
	}
	t0 := time.UnixMilli(1_764_000_000_000).UTC()
	const devices, metrics, steps = 50, 2, 4320
	var batch []store.Point
	for s := range steps {
		for d := range devices {
			for m := range metrics {
				batch = append(batch, store.Point{DeviceID: fmt.Sprintf("dev%03d", d), Metric: fmt.Sprintf("m%d", m), Time: t0.Add(time.Duration(s) * 10 * time.Second), Value: float64(s)})
			}
		}
		if len(batch) >= 5000 || s == steps-1 {
			if err := db.InsertPoints(ctx, batch); err != nil {
				b.Fatal(err)
			}
			if err := db.InsertPointsRows(ctx, "telemetry_rows", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for {
		r, err := db.CompactTelemetry(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		if !r.More {
			break
		}
	}
	for _, w := range []struct {
		name     string
		from, to time.Duration
		want     int
	}{{"1h", 6 * time.Hour, 7 * time.Hour, 360}, {"12h", 0, 12 * time.Hour, steps}} {
		q := store.PointQuery{DeviceID: "dev025", Metric: "m1", From: t0.Add(w.from), To: t0.Add(w.to)}
		for _, path := range []string{"chunks", "rows"} {
			b.Run(w.name+"/"+path, func(b *testing.B) {
				for b.Loop() {
					var pts []store.Point
					var err error
					if path == "chunks" {
						pts, err = db.Points(ctx, q)
					} else {
						pts, err = db.PointsRows(ctx, "telemetry_rows", q)
					}
					if err != nil || len(pts) != w.want {
						b.Fatalf("%d samples, %v; want %d", len(pts), err, w.want)
					}
				}
			})
		}
	}
}
