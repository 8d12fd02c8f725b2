package campaign

import (
	"sync"
	"time"
)

// pacer shares one device's download bandwidth among all of its
// concurrent downloads: each write reserves the next free slot of the
// device's budget and waits for it, so the device's total rate stays at
// or under the limit however many connections it opens.
type pacer struct {
	limit int64 // bytes per second
	now   func() time.Time
	sleep func(time.Duration)

	mu    sync.Mutex
	next  time.Time // when the budget is next free
	users int       // downloads holding the pacer (guarded by Engine.mu)
}

func newPacer(limit int64) *pacer {
	return &pacer{limit: limit, now: time.Now, sleep: time.Sleep}
}

// reserve books n bytes and returns when they may be sent.
func (p *pacer) reserve(n int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	start := p.next
	if start.Before(now) {
		start = now
	}
	p.next = start.Add(time.Duration(float64(n) / float64(p.limit) * float64(time.Second)))
	return start
}

// wait books n bytes and sleeps until they may be sent.
func (p *pacer) wait(n int) {
	if d := p.reserve(n).Sub(p.now()); d > 0 {
		p.sleep(d)
	}
}

// acquirePacer returns the device's shared pacer (nil without a limit);
// releasePacer must follow when the download ends.
func (e *Engine) acquirePacer(deviceID string) *pacer {
	if e.cfg.BytesPerSecond <= 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pacers[deviceID]
	if p == nil {
		mk := e.newPacer
		if mk == nil {
			mk = newPacer
		}
		p = mk(e.cfg.BytesPerSecond)
		e.pacers[deviceID] = p
	}
	p.users++
	return p
}

func (e *Engine) releasePacer(deviceID string, p *pacer) {
	if p == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.users--; p.users == 0 {
		delete(e.pacers, deviceID)
	}
}
