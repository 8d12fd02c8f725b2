package netlimit

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket: a source may spend Burst tokens at once, and
// gets PerSecond back every second up to Burst.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Valid reports whether the rate can limit anything.
func (r Rate) Valid() bool { return r.PerSecond > 0 && r.Burst >= 1 && !math.IsInf(r.PerSecond, 0) }

// Limiter keeps one token bucket per source, for at most maxSources
// sources. A source whose bucket is full again carries no information and
// may be forgotten; when the table is full of sources still spending, the
// sources left out share one overflow bucket, so a flood from more sources
// than the table holds is limited as a whole rather than not at all.
type Limiter struct {
	base Rate // as configured; rate is base divided among the nodes (SetShare)
	max  int
	now  func() time.Time

	mu        sync.Mutex
	rate      Rate
	m         map[Source]bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// sweepEvery spaces the scans for full buckets when the table is full.
const sweepEvery = time.Second

// NewLimiter returns a limiter of rate r for up to maxSources sources;
// now is the clock (time.Now when nil). It panics on an invalid rate or a
// maxSources below 1: limits come from a validated configuration.
func NewLimiter(r Rate, maxSources int, now func() time.Time) *Limiter {
	if !r.Valid() || maxSources < 1 {
		panic("netlimit: invalid limiter configuration")
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{base: r, rate: r, max: maxSources, now: now, m: map[Source]bucket{}, overflow: bucket{tokens: float64(r.Burst)}}
}

// refill returns b brought up to now.
func (l *Limiter) refill(b bucket, now time.Time) bucket {
	if b.at.IsZero() {
		return bucket{tokens: float64(l.rate.Burst), at: now}
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(float64(l.rate.Burst), b.tokens+d.Seconds()*l.rate.PerSecond)
		b.at = now
	}
	return b
}

// get returns src's bucket, refilled, and a function storing it back.
// Called with l.mu held.
func (l *Limiter) get(src Source, now time.Time) (bucket, func(bucket)) {
	if b, ok := l.m[src]; ok {
		return l.refill(b, now), func(b bucket) { l.m[src] = b }
	}
	if len(l.m) >= l.max && now.Sub(l.lastSweep) >= sweepEvery {
		l.lastSweep = now
		for k, b := range l.m {
			if l.refill(b, now).tokens >= float64(l.rate.Burst) {
				delete(l.m, k)
			}
		}
	}
	if len(l.m) < l.max {
		return l.refill(bucket{}, now), func(b bucket) { l.m[src] = b }
	}
	return l.refill(l.overflow, now), func(b bucket) { l.overflow = b }
}

// Allow takes one token from src's bucket and reports whether there was one.
func (l *Limiter) Allow(src Source) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, put := l.get(src, now)
	if b.tokens < 1 {
		put(b)
		return false
	}
	b.tokens--
	put(b)
	return true
}

// Charge takes one token from src's bucket if it has any left (a failed
// request: it is spent whatever the bucket held).
func (l *Limiter) Charge(src Source) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, put := l.get(src, now)
	b.tokens = math.Max(0, b.tokens-1)
	put(b)
}

// Blocked reports whether src has no whole token left, without taking one.
// A source the table does not hold is not blocked unless it would fall in
// the overflow bucket and that is empty.
func (l *Limiter) Blocked(src Source) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.m[src]; ok {
		return l.refill(b, now).tokens < 1
	}
	if len(l.m) < l.max {
		return false
	}
	return l.refill(l.overflow, now).tokens < 1
}

// RetryAfter is how long until src has a whole token again (0 if it has
// one now), rounded up to whole seconds, for a Retry-After header.
func (l *Limiter) RetryAfter(src Source) time.Duration {
	now := l.now()
	l.mu.Lock()
	b, ok := l.m[src]
	if !ok {
		b = l.overflow
	}
	b = l.refill(b, now)
	perSecond := l.rate.PerSecond
	l.mu.Unlock()
	if b.tokens >= 1 {
		return 0
	}
	s := math.Ceil((1 - b.tokens) / perSecond)
	return time.Duration(s) * time.Second
}

// SetShare makes this limiter's rate the configured one divided by n (at
// least a burst of 1): the nodes of a cluster each hold one n-th of a
// source's budget, so a source the load balancer spreads over n nodes gets
// the configured budget in all, with no round trip between nodes per
// request. Buckets already filled past the new burst are cut to it.
func (l *Limiter) SetShare(n int) {
	n = max(n, 1)
	r := Rate{PerSecond: l.base.PerSecond / float64(n), Burst: max(l.base.Burst/n, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r == l.rate {
		return
	}
	l.rate = r
	cut := func(b bucket) bucket {
		b.tokens = math.Min(b.tokens, float64(r.Burst))
		return b
	}
	for k, b := range l.m {
		l.m[k] = cut(b)
	}
	l.overflow = cut(l.overflow)
}

// Rate is the rate in force (the configured one divided by SetShare's n).
func (l *Limiter) Rate() Rate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Len is the number of sources the table holds now.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
