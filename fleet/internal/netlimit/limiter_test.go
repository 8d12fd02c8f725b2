package netlimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Unix(1_764_000_000, 0)} }

func TestLimiterBucket(t *testing.T) {
	c := newClock()
	l := NewLimiter(Rate{PerSecond: 2, Burst: 5}, 100, c.now)
	a, b := SourceOf("192.0.2.1:1"), SourceOf("192.0.2.2:1")
	for i := range 5 {
		if !l.Allow(a) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.Allow(a) || !l.Blocked(a) {
		t.Fatal("request beyond the burst allowed")
	}
	if got := l.RetryAfter(a); got != time.Second {
		t.Fatalf("RetryAfter = %v, want 1s", got)
	}
	if !l.Allow(b) || l.Blocked(b) {
		t.Fatal("another source is limited by the first one's use")
	}
	c.advance(500 * time.Millisecond) // one token back
	if !l.Allow(a) || l.Allow(a) {
		t.Fatal("refill after 0.5 s at 2/s is not one token")
	}
	c.advance(time.Hour)
	for range 5 {
		l.Charge(a)
	}
	if !l.Blocked(a) || l.Blocked(b) {
		t.Fatal("Charge did not spend the bucket")
	}
	l.Charge(a) // stays at zero, no debt
	c.advance(500 * time.Millisecond)
	if l.Blocked(a) {
		t.Fatal("charging an empty bucket ran it into debt")
	}
}

// The table never holds more than its bound; sources left out share the
// overflow bucket while the table is full of sources still spending, and
// get their own again once full buckets have been forgotten.
func TestLimiterBounded(t *testing.T) {
	c := newClock()
	const max = 50
	l := NewLimiter(Rate{PerSecond: 1, Burst: 3}, max, c.now)
	src := func(i int) Source { return SourceOf(fmt.Sprintf("[2001:db8:0:%x::1]:1", i)) }
	for i := range max {
		l.Allow(src(i)) // each in the table, spending
	}
	if l.Len() != max {
		t.Fatalf("table holds %d, want %d", l.Len(), max)
	}
	// Many more sources: bounded table, one shared overflow bucket.
	allowed := 0
	for i := max; i < 10*max; i++ {
		if l.Allow(src(i)) {
			allowed++
		}
		if l.Len() > max {
			t.Fatalf("table grew to %d", l.Len())
		}
	}
	if allowed != 3 {
		t.Fatalf("sources beyond the table got %d tokens, want the overflow bucket's 3", allowed)
	}
	if !l.Blocked(src(10 * max)) {
		t.Fatal("an unknown source is not blocked with the overflow bucket empty")
	}
	// Once the early sources' buckets are full again they are forgotten,
	// and a new source gets a bucket of its own.
	c.advance(10 * time.Second)
	if !l.Allow(src(20*max)) || l.Len() != 1 {
		t.Fatalf("after refill: table holds %d, want the new source alone", l.Len())
	}
}

// TestLimiterShare: with the budget divided among three nodes, a source
// gets a third of the burst and of the rate here; back to one node, the
// whole again.
func TestLimiterShare(t *testing.T) {
	c := newClock()
	l := NewLimiter(Rate{PerSecond: 3, Burst: 30}, 100, c.now)
	a := SourceOf("192.0.2.1:1")
	l.Allow(a) // a bucket, full at 29 tokens
	l.SetShare(3)
	if r := l.Rate(); r != (Rate{PerSecond: 1, Burst: 10}) {
		t.Fatalf("rate %+v", r)
	}
	n := 0
	for l.Allow(a) {
		n++
	}
	if n != 10 {
		t.Fatalf("burst of a third: %d requests allowed, want 10", n)
	}
	c.advance(2 * time.Second)
	allowed := 0
	for l.Allow(a) {
		allowed++
	}
	if allowed != 2 {
		t.Fatalf("refill over 2 s at a third of the rate: %d tokens, want 2", allowed)
	}
	l.SetShare(0) // as 1
	if r := l.Rate(); r != (Rate{PerSecond: 3, Burst: 30}) {
		t.Fatalf("rate back to one node: %+v", r)
	}
	l.SetShare(100) // more nodes than burst: a burst of 1 still
	if r := l.Rate(); r.Burst != 1 || r.PerSecond != 0.03 {
		t.Fatalf("rate on 100 nodes: %+v", r)
	}
}
