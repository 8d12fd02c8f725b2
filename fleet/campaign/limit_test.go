package campaign

import (
	"sync"
	"testing"
	"time"
)

// TestPacerShared: on a fake clock, interleaved writes of two downloads
// through one pacer book the budget one after the other, so the device's
// bytes go out at the limit in all, and an idle pacer books from now.
func TestPacerShared(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var mu sync.Mutex
	p := newPacer(1000) // bytes per second
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var slept time.Duration
	p.sleep = func(d time.Duration) { mu.Lock(); now = now.Add(d); slept += d; mu.Unlock() }
	for i := 0; i < 10; i++ { // two downloads, 500 bytes a write, alternating
		p.wait(500)
	}
	// 5,000 bytes at 1,000 B/s: the last write may start at 4.5 s.
	if want := 4500 * time.Millisecond; slept != want {
		t.Fatalf("slept %s, want %s", slept, want)
	}
	now = now.Add(10 * time.Second) // idle: no debt carried, no credit hoarded
	before := slept
	p.wait(500)
	p.wait(500)
	if got := slept - before; got != 500*time.Millisecond {
		t.Fatalf("after idling: slept %s, want 500ms (the first write goes at once, the second after it)", got)
	}
}

// TestPacerPerDevice: the engine hands one pacer to every download of a
// device, another to another device, and drops it after the last one.
func TestPacerPerDevice(t *testing.T) {
	e := &Engine{cfg: Config{BytesPerSecond: 1000}, pacers: map[string]*pacer{}}
	a1, a2, b := e.acquirePacer("a"), e.acquirePacer("a"), e.acquirePacer("b")
	if a1 != a2 || a1 == b {
		t.Fatal("downloads of one device do not share a pacer, or two devices share one")
	}
	e.releasePacer("a", a1)
	if e.pacers["a"] != a2 {
		t.Fatal("pacer dropped while a download still holds it")
	}
	e.releasePacer("a", a2)
	e.releasePacer("b", b)
	if len(e.pacers) != 0 {
		t.Fatalf("%d pacers left after every download ended", len(e.pacers))
	}
	if (&Engine{cfg: Config{}}).acquirePacer("a") != nil {
		t.Fatal("a pacer without a limit")
	}
}
