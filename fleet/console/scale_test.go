package console

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"rampart/fleet/api"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/internal/proc"
)

var scale = flag.Int("console.scale", 0, "run TestConsoleScale with this many devices in the store (the benchmark: 100000)")

// TestConsoleScale measures the server time of the console's device list
// and overview with -console.scale devices in the store, on SQLite and
// (with RAMPART_TEST_POSTGRES) PostgreSQL, against a baseline in the same
// run: the admin API's own device list filtered by state (every matching
// row), which the console's pages replace. It reports figures; it asserts
// only that the answers are right.
func TestConsoleScale(t *testing.T) {
	if *scale == 0 {
		t.Skip("-console.scale N: the console's device list and overview with N devices (docs/console.md, Performance)")
	}
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := storetest.DSN(t, backend)
			db, err := store.Open(context.Background(), dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			start := time.Now()
			seed(t, db, dsn, *scale)
			t.Logf("%s: seeded %d devices and their fw_version in %s", backend, *scale, time.Since(start).Round(time.Millisecond))
			measure(t, db)
		})
	}
}

// seed inserts n devices in one transaction (the store has no bulk
// endorsement import) and one fw_version sample each, compacted.
func seed(t *testing.T, db *store.DB, dsn string, n int) {
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres") {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	q := `INSERT INTO devices (device_id, instance_id, public_key, state, manufacturer, created_ms, updated_ms, last_attested_ms) VALUES (?, ?, 'k', ?, ?, ?, ?, ?)`
	if driver == "pgx" {
		q = `INSERT INTO devices (device_id, instance_id, public_key, state, manufacturer, created_ms, updated_ms, last_attested_ms) VALUES ($1, $2, 'k', $3, $4, $5, $6, $7)`
	}
	stmt, err := tx.Prepare(q)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixMilli()
	var pts []store.Point
	for i := range n {
		st := store.Active
		switch x := r.IntN(100); {
		case x < 5:
			st = store.Suspended
		case x < 9:
			st = store.Registered
		case x < 10:
			st = store.Decommissioned
		}
		mfr := []string{"acme", "globex", "initech"}[r.IntN(3)]
		id := fmt.Sprintf("%032x", r.Uint64()<<32|uint64(i))
		if _, err := stmt.Exec(id, []byte(id), string(st), mfr, now, now, now-r.Int64N(7*24*3600_000)); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, store.Point{DeviceID: id, Metric: "fw_version", Time: time.UnixMilli(now - r.Int64N(3600_000)), Value: float64(10000 + 100*r.IntN(3))})
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if driver == "pgx" {
		// What autovacuum does by itself within a minute of a bulk load:
		// statistics, and the visibility map index-only scans need.
		if _, err := raw.Exec(`VACUUM ANALYZE devices`); err != nil {
			t.Fatal(err)
		}
	}
	for b := range slices.Chunk(pts, 50000) {
		if err := db.InsertPoints(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	for {
		res, err := db.CompactTelemetry(context.Background(), 200000)
		if err != nil {
			t.Fatal(err)
		}
		if res.Batches == 0 {
			break
		}
	}
}

func measure(t *testing.T, db *store.DB) {
	a, err := api.New(api.Deps{Store: db, Tokens: []api.TokenConfig{{Name: "v", Role: api.Viewer, SHA256: digest("viewer-token")}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Deps{API: a, Store: db, Online: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/ui/session", strings.NewReader(`{"token":"viewer-token"}`))
	req.Header.Set("Content-Type", "application/json")
	c.ServeHTTP(rec, req)
	cookie := rec.Result().Cookies()[0]
	get := func(path string) time.Duration {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		c.ServeHTTP(rec, req)
		took := time.Since(start)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return took
	}
	const runs = 15
	median := func(path string) (time.Duration, time.Duration) {
		get(path) // warm: the firmware cache, prepared plans
		var d []time.Duration
		for range runs {
			d = append(d, get(path))
		}
		slices.Sort(d)
		return d[len(d)/2], d[len(d)-1]
	}
	base, baseMax := median("/ui/api/v1/devices?state=suspended")
	t.Logf("baseline: admin API GET /api/v1/devices?state=suspended (every suspended device, about 5%%): median %s, max %s", base.Round(time.Microsecond), baseMax.Round(time.Microsecond))
	for _, p := range []struct{ name, path string }{
		{"device list, first page", "/ui/data/devices"},
		{"filtered page (suspended, globex)", "/ui/data/devices?state=suspended&manufacturer=globex"},
		{"filtered page (seen in 24 h)", "/ui/data/devices?seen=24h"},
		{"ID prefix search", "/ui/data/devices?q=7f"},
		{"a later page (after an ID)", "/ui/data/devices?after=8000000000000000"},
		{"overview", "/ui/data/overview"},
	} {
		m, mx := median(p.path)
		t.Logf("%-36s median %9s  max %9s  (%.2fx the baseline)", p.name, m.Round(time.Microsecond), mx.Round(time.Microsecond), float64(m)/float64(base))
	}
	// The overview without its firmware cache: every device's latest
	// fw_version read again (at most every 10 s while a console is open).
	var d []time.Duration
	for range 5 {
		c.hub.mu.Lock()
		c.hub.fw = nil
		c.hub.mu.Unlock()
		d = append(d, get("/ui/data/overview"))
	}
	slices.Sort(d)
	t.Logf("%-36s median %9s  max %9s", "overview, firmware re-read", d[len(d)/2].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	liveCost(t, c)
}

// liveCost measures the process CPU the live updates take: a window with
// one stream open against the same window with none (the baseline, in the
// same run). On PostgreSQL the database server's own CPU is not counted.
func liveCost(t *testing.T, c *Console) {
	const window = 30 * time.Second
	start := proc.CPU()
	time.Sleep(window)
	idle := proc.CPU() - start
	ch, ok := c.hub.subscribe()
	if !ok {
		t.Fatal("no stream")
	}
	n := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				n++
			case <-stop:
				return
			}
		}
	}()
	start = proc.CPU()
	time.Sleep(window)
	busy := proc.CPU() - start
	close(stop)
	<-done
	c.hub.unsubscribe(ch)
	t.Logf("live updates: %d overviews in %s; process CPU %s with a stream open, %s with none: %.2f%% of one core", n, window, busy.Round(time.Millisecond),
		idle.Round(time.Millisecond), 100*float64(busy-idle)/float64(window))
}
