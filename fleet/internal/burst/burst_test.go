package burst

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

type rec struct {
	ev int
	b  Burst
}

type fixture struct {
	mu   sync.Mutex
	recs []rec
	t    time.Time
}

func (f *fixture) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}
func (f *fixture) record(_ context.Context, ev int, b Burst) error {
	f.mu.Lock()
	f.recs = append(f.recs, rec{ev, b})
	f.mu.Unlock()
	return nil
}

func newFixture(maxKeys int) (*fixture, *Coalescer[int]) {
	f := &fixture{t: time.Unix(1_764_000_000, 0)}
	return f, New(Config[int]{Window: time.Minute, MaxKeys: maxKeys, Now: f.now, Record: f.record})
}

func TestBurstCoalesces(t *testing.T) {
	f, c := newFixture(100)
	ctx := context.Background()
	for i := range 1000 {
		rec, err := c.Add(ctx, "192.0.2.1", "api 401", i)
		if err != nil || rec != (i == 0) {
			t.Fatalf("event %d: recorded %v, %v", i, rec, err)
		}
	}
	c.Tick(ctx) // window not over: nothing
	if len(f.recs) != 1 || f.recs[0].ev != 0 || f.recs[0].b.Count != 1 || f.recs[0].b.Summary {
		t.Fatalf("records after the first event: %+v", f.recs)
	}
	f.advance(time.Minute)
	c.Tick(ctx)
	if len(f.recs) != 2 || f.recs[1].ev != 999 || f.recs[1].b.Count != 999 || !f.recs[1].b.Summary {
		t.Fatalf("summary: %+v", f.recs)
	}
	// The burst goes on: one summary a window.
	for range 10 {
		for i := range 500 {
			c.Add(ctx, "192.0.2.1", "api 401", i)
		}
		f.advance(time.Minute)
		c.Tick(ctx)
	}
	if len(f.recs) != 12 || f.recs[11].b.Count != 500 {
		t.Fatalf("%d records for 11 windows of flood, want 12", len(f.recs))
	}
	// Quiet for a window: forgotten; the next event is recorded at once.
	f.advance(time.Minute)
	c.Tick(ctx)
	if c.Len() != 0 {
		t.Fatalf("quiet key kept: %d keys", c.Len())
	}
	if rec, _ := c.Add(ctx, "192.0.2.1", "api 401", 7); !rec {
		t.Fatal("first event after a quiet window not recorded at once")
	}
	// Another kind or source is a burst of its own.
	if rec, _ := c.Add(ctx, "192.0.2.1", "enroll nonce-unknown", 8); !rec {
		t.Fatal("another kind coalesced with the first")
	}
	if rec, _ := c.Add(ctx, "192.0.2.2", "api 401", 9); !rec {
		t.Fatal("another source coalesced with the first")
	}
	c.Add(ctx, "192.0.2.2", "api 401", 10)
	n := len(f.recs)
	c.Flush(ctx)
	if len(f.recs) != n+1 || f.recs[n].ev != 10 {
		t.Fatalf("Flush: %+v", f.recs[n:])
	}
}

// Sources beyond MaxKeys share one key per kind: a flood from many sources
// is bounded in memory and in records too.
func TestBurstBounded(t *testing.T) {
	f, c := newFixture(10)
	ctx := context.Background()
	for i := range 10000 {
		c.Add(ctx, fmt.Sprintf("10.0.%d.%d", i/256, i%256), "enroll malformed-request", i)
		if c.Len() > 11 {
			t.Fatalf("%d keys tracked, want at most 10 + 1 overflow", c.Len())
		}
	}
	if len(f.recs) != 11 || f.recs[10].b.Source != Overflow {
		t.Fatalf("%d records for 10,000 sources, want 11 (the last from %q)", len(f.recs), Overflow)
	}
	f.advance(time.Minute)
	c.Tick(ctx)
	if len(f.recs) != 12 || f.recs[11].b.Count != 10000-11 {
		t.Fatalf("overflow summary: %+v", f.recs[11:])
	}
}

// Concurrent events of one key: exactly one recorded at once, the rest
// counted.
func TestBurstConcurrent(t *testing.T) {
	f, c := newFixture(100)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				c.Add(ctx, "s", "k", g*1000+i)
			}
		}()
	}
	wg.Wait()
	c.Flush(ctx)
	if len(f.recs) != 2 || f.recs[0].b.Count+f.recs[1].b.Count != 8000 {
		t.Fatalf("records: %d, counts %+v", len(f.recs), f.recs)
	}
}

// Audit writes the first refusal of a burst and then one summary, on both
// databases.
func TestAuditFlood(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fx := &fixture{t: time.Unix(1_764_000_000, 0)}
		c := Audit(db, time.Minute, 100, fx.now, nil)
		ctx := context.Background()
		for i := range 5000 {
			e := &store.AuditEntry{Actor: fmt.Sprintf("remote:192.0.2.1:%d", 1000+i), Action: "api GET /api/v1/devices", Subject: "/api/v1/devices", Decision: store.Deny, Reason: "no valid bearer token"}
			if _, err := c.Add(ctx, "192.0.2.1", "api 401", e); err != nil {
				t.Fatal(err)
			}
		}
		fx.advance(time.Minute)
		c.Tick(ctx)
		l, err := db.AuditLog(ctx, store.AuditFilter{})
		if err != nil || len(l) != 2 {
			t.Fatalf("5,000 refusals wrote %d rows (%v), want 2", len(l), err)
		}
		if !strings.HasPrefix(l[0].Reason, "burst: 4999 more from 192.0.2.1 since ") || !strings.HasSuffix(l[0].Reason, "; last: no valid bearer token") || l[0].Actor != "remote:192.0.2.1:5999" {
			t.Fatalf("summary row: %+v", l[0])
		}
		if l[1].Reason != "no valid bearer token" || l[1].Actor != "remote:192.0.2.1:1000" {
			t.Fatalf("first row: %+v", l[1])
		}
	})
}

// What a burst holds for its summary is bounded, whatever the request
// carried (an attacker's path may be tens of kilobytes).
func TestAuditKeepsBoundedCopy(t *testing.T) {
	long := strings.Repeat("x", 60000)
	k := keepAudit(&store.AuditEntry{Actor: long, Action: long, Subject: long, Decision: long, Reason: long})
	if n := len(k.Actor) + len(k.Action) + len(k.Subject) + len(k.Decision) + len(k.Reason); n > 2100 {
		t.Fatalf("held %d bytes", n)
	}
}

// Keys are bounded too: a source or kind of 60 KB (a certificate's name,
// a path) is held cut, and still coalesces with itself.
func TestBurstKeysBounded(t *testing.T) {
	f, c := newFixture(100)
	ctx := context.Background()
	long := strings.Repeat("n", 60000)
	for i := range 3 {
		c.Add(ctx, long, long+"-kind", i)
	}
	if len(f.recs) != 1 || len(f.recs[0].b.Source) != MaxKeyBytes || len(f.recs[0].b.Kind) != MaxKeyBytes {
		t.Fatalf("records %d, source %d bytes, kind %d bytes", len(f.recs), len(f.recs[0].b.Source), len(f.recs[0].b.Kind))
	}
	c.mu.Lock()
	for k := range c.m {
		if len(k.source) > MaxKeyBytes || len(k.kind) > MaxKeyBytes {
			t.Errorf("key held with %d + %d bytes", len(k.source), len(k.kind))
		}
	}
	c.mu.Unlock()
}
