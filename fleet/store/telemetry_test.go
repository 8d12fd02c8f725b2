package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

var tbase = time.UnixMilli(1_764_000_000_000).UTC()

func at(ms int64) time.Time { return tbase.Add(time.Duration(ms) * time.Millisecond) }

// model is the reference: every stored sample, in storage order.
type model []store.Point

func (m model) query(q store.PointQuery) []store.Point {
	var out []store.Point
	for _, p := range m {
		if (q.DeviceID == "" || p.DeviceID == q.DeviceID) && (q.Metric == "" || p.Metric == q.Metric) &&
			(q.From.IsZero() || !p.Time.Before(q.From)) && (q.To.IsZero() || p.Time.Before(q.To)) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b store.Point) int {
		return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Metric, b.Metric), a.Time.Compare(b.Time))
	})
	limit := q.Limit
	if limit <= 0 {
		limit = 100000
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// check compares Points and CountPoints with the model for many queries.
func (m model) check(t *testing.T, db *store.DB, stage string) {
	t.Helper()
	qs := []store.PointQuery{{}, {Limit: 1}, {Limit: 77}}
	windows := [][2]int64{{0, 0}, {5_000, 0}, {0, 40_000}, {12_345, 54_321}, {86_400_000, 2 * 86_400_000}}
	if len(m) > 3 { // bounds on stored times: From inclusive, To exclusive
		a, b := m[len(m)/3].Time.Sub(tbase).Milliseconds(), m[len(m)/2].Time.Sub(tbase).Milliseconds()
		windows = append(windows, [2]int64{min(a, b), max(a, b)}, [2]int64{a, a + 1})
	}
	for _, d := range []string{"", "dev-a", "dev-long", "nobody"} {
		for _, mt := range []string{"", "temp", "zz"} {
			for _, w := range windows {
				for _, lim := range []int{0, 5} {
					q := store.PointQuery{DeviceID: d, Metric: mt, Limit: lim}
					if w[0] != 0 {
						q.From = at(w[0])
					}
					if w[1] != 0 {
						q.To = at(w[1])
					}
					qs = append(qs, q)
				}
			}
		}
	}
	m.compare(t, db, stage, qs)
}

// checkQuick is check with only the whole-table and per-device queries.
func (m model) checkQuick(t *testing.T, db *store.DB, stage string) {
	t.Helper()
	m.compare(t, db, stage, []store.PointQuery{{}, {DeviceID: "dev-a"}, {DeviceID: "dev-long", From: at(86_400_000), Limit: 10}})
}

func (m model) compare(t *testing.T, db *store.DB, stage string, qs []store.PointQuery) {
	t.Helper()
	ctx := context.Background()
	if n, err := db.CountPoints(ctx); err != nil || n != int64(len(m)) {
		t.Fatalf("%s: CountPoints = %d, %v; want %d", stage, n, err, len(m))
	}
	for _, q := range qs {
		got, err := db.Points(ctx, q)
		if err != nil {
			t.Fatalf("%s: Points(%+v): %v", stage, q, err)
		}
		want := m.query(q)
		if len(got) != len(want) {
			t.Fatalf("%s: Points(%+v) = %d samples, want %d", stage, q, len(got), len(want))
		}
		for i := range got {
			if got[i].DeviceID != want[i].DeviceID || got[i].Metric != want[i].Metric || !got[i].Time.Equal(want[i].Time) || got[i].Value != want[i].Value {
				t.Fatalf("%s: Points(%+v)[%d] = %+v, want %+v", stage, q, i, got[i], want[i])
			}
		}
	}
}

// randomBatches makes batches of samples of a few series, in random time
// order (every time unique within its series, so that the expected order is
// total), plus one long series over three days.
func randomBatches(r *rand.Rand) [][]store.Point {
	used := map[string]bool{}
	var all []store.Point
	for range 1500 {
		p := store.Point{
			DeviceID: []string{"dev-a", "dev-b", "dev-c"}[r.IntN(3)],
			Metric:   []string{"temp", "rssi", "uptime"}[r.IntN(3)],
			Time:     at(r.Int64N(60_000)),
			Value:    math.Round(r.NormFloat64()*1000) / 10,
		}
		k := fmt.Sprint(p.DeviceID, p.Metric, p.Time.UnixMilli())
		if used[k] {
			continue
		}
		used[k] = true
		all = append(all, p)
	}
	for i := range 2600 { // crosses chunkTarget and maxChunkSpan (one per 100 s over 3 days)
		all = append(all, store.Point{DeviceID: "dev-long", Metric: "temp", Time: at(int64(i) * 100_000), Value: float64(i)})
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var out [][]store.Point
	for len(all) > 0 {
		n := min(len(all), 1+r.IntN(400))
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

// Points, CountPoints and DeletePointsBefore agree with a plain model
// whatever mix of pending batches and chunks holds the samples.
func TestTelemetryBatchesAndChunks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		var m model
		for i, b := range randomBatches(r) {
			if err := db.InsertPoints(ctx, b); err != nil {
				t.Fatal(err)
			}
			m = append(m, b...)
			if i%5 == 4 { // compact part of what is pending
				res, err := db.CompactTelemetry(ctx, 300)
				if err != nil || res.Batches == 0 || res.Samples == 0 {
					t.Fatalf("CompactTelemetry = %+v, %v", res, err)
				}
			}
			if i == 9 {
				m.check(t, db, "mixed")
			}
		}
		m.check(t, db, "before compaction")
		for {
			res, err := db.CompactTelemetry(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !res.More {
				break
			}
		}
		if n, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_batches`); n != 0 {
			t.Fatalf("%d batches left after compaction", n)
		}
		m.check(t, db, "compacted")
		// A late sample and a tie go to the pending batches; more chunks
		// merge with them in queries.
		late := []store.Point{{DeviceID: "dev-a", Metric: "temp", Time: at(1), Value: -1}, {DeviceID: "dev-a", Metric: "zz", Time: at(2), Value: 2}}
		if err := db.InsertPoints(ctx, late); err != nil {
			t.Fatal(err)
		}
		m = append(m, late...)
		m.check(t, db, "late samples pending")
		if _, err := db.CompactTelemetry(ctx, 0); err != nil {
			t.Fatal(err)
		}
		m.check(t, db, "late samples compacted")

		// Retention: exact, across chunks (some straddling) and batches.
		more := []store.Point{{DeviceID: "dev-b", Metric: "rssi", Time: at(29_999), Value: 7}, {DeviceID: "dev-b", Metric: "rssi", Time: at(90_000_000), Value: 8}}
		if err := db.InsertPoints(ctx, more); err != nil {
			t.Fatal(err)
		}
		m = append(m, more...)
		cut := at(30_000)
		var keep model
		for _, p := range m {
			if !p.Time.Before(cut) {
				keep = append(keep, p)
			}
		}
		n, err := db.DeletePointsBefore(ctx, cut)
		if err != nil || n != int64(len(m)-len(keep)) {
			t.Fatalf("DeletePointsBefore = %d, %v; want %d", n, err, len(m)-len(keep))
		}
		keep.check(t, db, "after retention")
		if _, err := db.CompactTelemetry(ctx, 0); err != nil {
			t.Fatal(err)
		}
		keep.check(t, db, "after retention and compaction")
	})
}

func TestTelemetryLatest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ins := func(p ...store.Point) {
			t.Helper()
			if err := db.InsertPoints(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		ins(store.Point{DeviceID: "a", Metric: "fw", Time: at(10), Value: 1}, store.Point{DeviceID: "b", Metric: "fw", Time: at(50), Value: 5},
			store.Point{DeviceID: "a", Metric: "fw", Time: at(20), Value: 2}, store.Point{DeviceID: "c", Metric: "x", Time: at(99), Value: 9})
		if _, err := db.CompactTelemetry(ctx, 0); err != nil {
			t.Fatal(err)
		}
		ins(store.Point{DeviceID: "b", Metric: "fw", Time: at(40), Value: 4}, store.Point{DeviceID: "d", Metric: "fw", Time: at(1), Value: 11})
		got, err := db.LatestTelemetry(ctx, "fw")
		if err != nil || len(got) != 3 || got["a"] != 2 || got["b"] != 5 || got["d"] != 11 {
			t.Fatalf("LatestTelemetry = %v, %v", got, err)
		}
		ins(store.Point{DeviceID: "a", Metric: "fw", Time: at(20), Value: 3}) // same time, stored later: wins
		if got, _ := db.LatestTelemetry(ctx, "fw"); got["a"] != 3 {
			t.Fatalf("tie: latest of a = %v, want 3", got["a"])
		}
		if _, err := db.CompactTelemetry(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.LatestTelemetry(ctx, "fw"); got["a"] != 3 || got["b"] != 5 {
			t.Fatalf("tie once compacted: latest = %v, want a 3, b 5", got)
		}
	})
}

// From is inclusive and To exclusive at the exact first and last times of a
// chunk and of a pending batch.
func TestTelemetryWindowBounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var pts []store.Point
		for _, ms := range []int64{30, 10, 20} {
			pts = append(pts, store.Point{DeviceID: "d", Metric: "m", Time: at(ms), Value: float64(ms)})
		}
		for _, stage := range []string{"pending", "compacted"} {
			if stage == "compacted" {
				if _, err := db.CompactTelemetry(ctx, 0); err != nil {
					t.Fatal(err)
				}
			} else if err := db.InsertPoints(ctx, pts); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				from, to int64
				want     string
			}{{30, 0, "[30]"}, {0, 10, "[]"}, {10, 30, "[10 20]"}, {10, 11, "[10]"}, {20, 20, "[]"}, {31, 0, "[]"}, {0, 0, "[10 20 30]"}} {
				q := store.PointQuery{DeviceID: "d"}
				if c.from != 0 {
					q.From = at(c.from)
				}
				if c.to != 0 {
					q.To = at(c.to)
				}
				got, err := db.Points(ctx, q)
				var vs []float64
				for _, p := range got {
					vs = append(vs, p.Value)
				}
				if err != nil || fmt.Sprint(vs) != c.want && !(c.want == "[]" && vs == nil) {
					t.Errorf("%s: [%d, %d) = %v, %v; want %s", stage, c.from, c.to, vs, err, c.want)
				}
			}
		}
	})
}

// A call larger than one batch row is split into several rows of one
// transaction: all stored, or none when a sample of a later row is bad.
func TestTelemetryInsertSplit(t *testing.T) {
	defer store.SetBatchRowPoints(7)()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var m model
		for i := range 30 {
			m = append(m, store.Point{DeviceID: "dev-a", Metric: "temp", Time: at(int64(i)), Value: float64(i)})
		}
		bad := append(slices.Clone(m), store.Point{DeviceID: "dev-a", Metric: "temp", Value: math.NaN()})
		if err := db.InsertPoints(ctx, bad); err == nil {
			t.Fatal("a NaN in the fifth row was accepted")
		}
		if n, _ := db.CountPoints(ctx); n != 0 {
			t.Fatalf("%d samples stored by a refused call", n)
		}
		if err := db.InsertPoints(ctx, m); err != nil {
			t.Fatal(err)
		}
		if rows, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_batches`); rows != 5 {
			t.Fatalf("30 samples in %d rows, want 5", rows)
		}
		m.checkQuick(t, db, "split")
	})
}

// InsertPoints refuses what the per-sample schema refused, and nothing of
// the call is stored.
func TestTelemetryInsertRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		good := store.Point{DeviceID: "d", Metric: "m", Time: at(1), Value: 1}
		for name, p := range map[string]store.Point{
			"NaN":       {DeviceID: "d", Metric: "m", Time: at(1), Value: math.NaN()},
			"Inf":       {DeviceID: "d", Metric: "m", Time: at(1), Value: math.Inf(-1)},
			"no device": {Metric: "m", Time: at(1)},
			"no metric": {DeviceID: "d", Time: at(1)},
		} {
			if err := db.InsertPoints(ctx, []store.Point{good, p}); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if n, _ := db.CountPoints(ctx); n != 0 {
			t.Fatalf("%d samples stored by refused calls", n)
		}
	})
}

// A compaction that fails or is cancelled part-way leaves every sample
// stored exactly once (still in its batch), and a later one succeeds.
func TestTelemetryCompactionFault(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 4))
		var m model
		for _, b := range randomBatches(r)[:12] {
			if err := db.InsertPoints(ctx, b); err != nil {
				t.Fatal(err)
			}
			m = append(m, b...)
		}
		if _, err := db.CompactTelemetry(ctx, 500); err != nil { // some chunks exist already
			t.Fatal(err)
		}
		pending, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_batches`)
		chunks, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_chunks`)
		injected := errors.New("injected fault")
		for _, step := range []string{"read", "chunk", "delete"} {
			for _, how := range []string{"error", "cancel"} {
				cctx, cancel := context.WithCancel(ctx)
				n := 0
				restore := store.SetCompactFault(func(s string) error {
					if s != step {
						return nil
					}
					if n++; n < 3 && step == "chunk" { // a few chunks written first
						return nil
					}
					if how == "cancel" {
						cancel() // the next statement (or the commit) fails
						return nil
					}
					return injected
				})
				res, err := db.CompactTelemetry(cctx, 0)
				restore()
				cancel()
				if err == nil {
					t.Fatalf("%s %s: compaction succeeded: %+v", step, how, res)
				}
				if how == "error" && !errors.Is(err, injected) {
					t.Fatalf("%s: %v, want the injected error", step, err)
				}
				if p, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_batches`); p != pending {
					t.Fatalf("%s %s: %d batches pending, want %d", step, how, p, pending)
				}
				if c, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_chunks`); c != chunks {
					t.Fatalf("%s %s: %d chunks, want %d", step, how, c, chunks)
				}
				m.checkQuick(t, db, step+" "+how)
			}
		}
		res, err := db.CompactTelemetry(ctx, 0)
		if err != nil || res.Batches != int(pending) {
			t.Fatalf("CompactTelemetry = %+v, %v; want %d batches", res, err, pending)
		}
		m.check(t, db, "after a good compaction")
	})
}

// Migration 3 carries the rows of the per-sample table into chunks: nothing
// is lost, and the old table is gone.
func TestTelemetryMigration3(t *testing.T) {
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, backend)
			old, err := store.OpenAtVersion(ctx, dsn, 2)
			if err != nil {
				t.Fatal(err)
			}
			var m model
			q, args := "", []any(nil)
			for i := range 2500 {
				p := store.Point{DeviceID: []string{"x", "y"}[i%2], Metric: []string{"t", "h", "t", "u"}[i%4], Time: at(int64(2500-i) * 1000), Value: float64(i) / 4}
				if i < 2100 {
					p.DeviceID, p.Metric = "big", "t" // more than one chunk
				}
				m = append(m, p)
				q += ",(?, ?, ?, ?)"
				args = append(args, p.DeviceID, p.Metric, p.Time.UnixMilli(), p.Value)
				if i%100 == 99 {
					if err := old.ExecSQL(ctx, `INSERT INTO telemetry (device_id, metric, ts_ms, value) VALUES `+q[1:], args...); err != nil {
						t.Fatal(err)
					}
					q, args = "", nil
				}
			}
			old.Close()
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			m.check(t, db, "migrated")
			if c, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_chunks WHERE device_id = 'big'`); c != 3 {
				t.Errorf("big series in %d chunks, want 3", c)
			}
			if _, err := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry`); err == nil {
				t.Error("the per-sample table is still there")
			}
			if v, _ := db.QueryInt64(ctx, `SELECT MAX(version) FROM schema_version`); v != int64(store.SchemaVersion()) {
				t.Errorf("schema version %d", v)
			}
		})
	}
}

// Compaction over more series than one latest-chunk lookup holds merges
// each series' new samples into its own latest chunk.
func TestTelemetryCompactManySeries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const series = 250
		var m model
		for pass := range 3 {
			var b []store.Point
			for i := range series {
				for j := range 2 {
					b = append(b, store.Point{DeviceID: fmt.Sprintf("dev-%03d", i), Metric: "temp", Time: at(int64(pass*10 + j)), Value: float64(i*100 + pass*10 + j)})
				}
			}
			if err := db.InsertPoints(ctx, b); err != nil {
				t.Fatal(err)
			}
			m = append(m, b...)
			r, err := db.CompactTelemetry(ctx, 0)
			if err != nil || r.Samples != len(b) || r.Chunks != series {
				t.Fatalf("pass %d: %+v, %v", pass, r, err)
			}
		}
		if c, _ := db.QueryInt64(ctx, `SELECT COUNT(*) FROM telemetry_chunks`); c != series {
			t.Fatalf("%d chunks for %d series: new samples not merged into the latest chunks", c, series)
		}
		m.checkQuick(t, db, "merged")
		for _, d := range []string{"dev-000", "dev-137", "dev-249"} {
			got, err := db.Points(ctx, store.PointQuery{DeviceID: d})
			if err != nil || len(got) != 6 || got[5].Time.Sub(tbase) != 21*time.Millisecond {
				t.Fatalf("%s: %v, %v", d, got, err)
			}
		}
	})
}

// Reads running while batches are inserted and compacted see every
// acknowledged sample exactly once: never fewer than were acknowledged
// before the read, never more than were sent, never one twice.
func TestTelemetryReadsDuringCompaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const per, batches = 40, 80
		var sent, acked atomic.Int64
		var wg sync.WaitGroup
		fail := make(chan error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer cancel()
			for i := range batches {
				b := make([]store.Point, per)
				for j := range b {
					b[j] = store.Point{DeviceID: []string{"dev-a", "dev-b"}[j%2], Metric: "m", Time: at(int64(i*per + j)), Value: 1}
				}
				sent.Add(per)
				if err := db.InsertPoints(ctx, b); err != nil {
					fail <- err
					return
				}
				acked.Add(per)
			}
		}()
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := db.CompactTelemetry(ctx, 3*per); err != nil && ctx.Err() == nil {
					fail <- err
					return
				}
			}
		}()
		for reads := 0; ctx.Err() == nil || reads == 0; reads++ {
			lo := acked.Load()
			n, err := db.CountPoints(context.Background())
			pts, err2 := db.Points(context.Background(), store.PointQuery{DeviceID: "dev-a"})
			hi := sent.Load()
			if err != nil || err2 != nil {
				t.Fatalf("read: %v, %v", err, err2)
			}
			if n < lo || n > hi {
				t.Fatalf("CountPoints = %d with %d acknowledged and %d sent", n, lo, hi)
			}
			if int64(len(pts)) < lo/2 || int64(len(pts)) > hi/2 {
				t.Fatalf("%d samples of dev-a with %d acknowledged and %d sent", len(pts), lo, hi)
			}
			for i := 1; i < len(pts); i++ {
				if !pts[i].Time.After(pts[i-1].Time) {
					t.Fatalf("dev-a sample at %v seen twice or out of order", pts[i].Time)
				}
			}
		}
		wg.Wait()
		select {
		case err := <-fail:
			t.Fatal(err)
		default:
		}
		if n, _ := db.CountPoints(context.Background()); n != per*batches {
			t.Fatalf("CountPoints = %d, want %d", n, per*batches)
		}
	})
}

// Series are ordered by byte order on both databases, including when
// pending samples and chunks are merged. (A PostgreSQL database collated
// en_US would put "a" before "B" but for the chunk columns' COLLATE "C";
// the test database may already be C.)
func TestTelemetrySeriesByteOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var m model
		for i, d := range []string{"b", "B", "a", "A-1", "a-2", "_x", "é"} {
			p := []store.Point{{DeviceID: d, Metric: "M", Time: at(int64(i)), Value: 1}, {DeviceID: d, Metric: "m", Time: at(int64(i)), Value: 2}}
			if err := db.InsertPoints(ctx, p); err != nil {
				t.Fatal(err)
			}
			m = append(m, p...)
			if i%2 == 0 { // every other device compacted, the rest pending
				if _, err := db.CompactTelemetry(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		m.compare(t, db, "byte order", []store.PointQuery{{}, {Limit: 5}, {Metric: "m"}})
	})
}

// Retention trims a chunk that straddles the cut; a compaction that merges
// a late sample into that chunk between retention's read and its write must
// not be undone (PostgreSQL runs them concurrently; SQLite has one writer).
func TestTelemetryRetentionDuringCompaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() == store.SQLite {
			t.Skip("SQLite serialises retention and compaction on its one writer connection")
		}
		ctx := context.Background()
		at := func(ms int64, v float64) store.Point {
			return store.Point{DeviceID: "d", Metric: "m", Time: time.UnixMilli(ms), Value: v}
		}
		if err := db.InsertPoints(ctx, []store.Point{at(1000, 1), at(2000, 2)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CompactTelemetry(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertPoints(ctx, []store.Point{at(3000, 3)}); err != nil {
			t.Fatal(err)
		}
		var compacted error
		restore := store.SetRetentionFault(func(step string) {
			if step == "chunks read" && compacted == nil {
				_, compacted = db.CompactTelemetry(ctx, 0) // merges 3000 into the straddling chunk
				if compacted == nil {
					compacted = errors.New("done")
				}
			}
		})
		_, err := db.DeletePointsBefore(ctx, time.UnixMilli(1500))
		restore()
		if compacted == nil || compacted.Error() != "done" {
			t.Fatalf("the interleaved compaction did not run: %v", compacted)
		}
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("retention over a chunk changed under it: %v, want ErrConflict", err)
		}
		if n, err := db.DeletePointsBefore(ctx, time.UnixMilli(1500)); err != nil || n != 1 {
			t.Fatalf("retention retried: removed %d, %v; want 1", n, err)
		}
		pts, err := db.Points(ctx, store.PointQuery{DeviceID: "d", Metric: "m"})
		if err != nil || len(pts) != 2 || pts[0].Value != 2 || pts[1].Value != 3 {
			t.Fatalf("after retention: %+v, %v; want the samples at 2000 and 3000", pts, err)
		}
	})
}

// Compaction plans on a snapshot and writes conditionally: when retention
// trims the chunk it merges into, or the batch it moves, between the plan
// and the write, the pass fails with ErrConflict and changes nothing; the
// next pass succeeds and no trimmed sample comes back.
func TestTelemetryCompactionDuringRetention(t *testing.T) {
	at := func(ms int64, v float64) store.Point {
		return store.Point{DeviceID: "d", Metric: "m", Time: time.UnixMilli(ms), Value: v}
	}
	for _, c := range []struct {
		name      string
		compacted []store.Point // compacted into a chunk first
		pending   []store.Point // left in a batch
	}{
		{"chunk trimmed", []store.Point{at(1000, 1), at(2000, 2)}, []store.Point{at(3000, 3)}},
		{"batch trimmed", nil, []store.Point{at(1000, 1), at(2000, 2), at(3000, 3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				if c.compacted != nil {
					if err := db.InsertPoints(ctx, c.compacted); err != nil {
						t.Fatal(err)
					}
					if _, err := db.CompactTelemetry(ctx, 0); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.InsertPoints(ctx, c.pending); err != nil {
					t.Fatal(err)
				}
				var trimmed int64
				var retErr error
				restore := store.SetCompactFault(func(step string) error {
					if step == "read" && trimmed == 0 && retErr == nil {
						trimmed, retErr = db.DeletePointsBefore(ctx, time.UnixMilli(1500))
					}
					return nil
				})
				_, err := db.CompactTelemetry(ctx, 0)
				restore()
				if retErr != nil || trimmed != 1 {
					t.Fatalf("interleaved retention: removed %d, %v; want 1", trimmed, retErr)
				}
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("compaction over a row retention changed: %v, want ErrConflict", err)
				}
				if _, err := db.CompactTelemetry(ctx, 0); err != nil {
					t.Fatalf("next pass: %v", err)
				}
				pts, err := db.Points(ctx, store.PointQuery{DeviceID: "d", Metric: "m"})
				if err != nil || len(pts) != 2 || pts[0].Value != 2 || pts[1].Value != 3 {
					t.Fatalf("after both: %+v, %v; want the samples at 2000 and 3000", pts, err)
				}
			})
		})
	}
}
