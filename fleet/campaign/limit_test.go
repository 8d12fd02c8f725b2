package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
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

// TestImageHandlerPacesPerDevice: through the image server, two
// concurrent downloads of one device book one budget, and two devices'
// downloads book one each. The pacers run on a virtual clock that stands
// still (so every write's booking adds up exactly) and whose first sleep
// of each download waits until both downloads hold their pacer, so they
// overlap whatever the machine's load. The wall-clock counterpart is
// TestBandwidthPerDevice, which can only check lower bounds.
func TestImageHandlerPacesPerDevice(t *testing.T) {
	const limit, size = 512 << 10, 256 << 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(t *testing.T, devices ...string) []time.Duration {
		var mu sync.Mutex
		var made []*pacer
		sleeping := 0
		overlap := make(chan struct{})
		e := &Engine{cfg: Config{BytesPerSecond: limit}, byDevice: map[string]*camp{}, images: map[string][]byte{}, pacers: map[string]*pacer{}}
		e.newPacer = func(l int64) *pacer {
			p := newPacer(l)
			p.now = func() time.Time { return t0 }

			p.sleep = func(time.Duration) {
				mu.Lock()
				sleeping++
				if sleeping == len(devices) {
					close(overlap)
				}
				mu.Unlock()
				select {
				case <-overlap:
				case <-time.After(30 * time.Second): // a download failed: let the other end
					t.Error("the downloads never overlapped")
				}
			}
			mu.Lock()
			made = append(made, p)
			mu.Unlock()
			return p
		}
		img := make([]byte, size)
		sum := sha256.Sum256(img)
		sha := hex.EncodeToString(sum[:])
		e.images[sha] = img
		c := &camp{rec: store.CampaignRecord{ID: "pace", State: string(Running)}, imageSHA: sha, key: make([]byte, DownloadKeySize), devs: map[string]*dev{}, dirty: map[string]*dev{}}
		for _, d := range devices {
			if c.devs[d] == nil {
				c.addDev(&dev{id: d, status: Notified})
				e.byDevice[d] = c
			}
		}
		srv := httptest.NewServer(e.ImageHandler())
		defer srv.Close()
		var wg sync.WaitGroup
		errs := make(chan error, len(devices))
		for _, d := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := http.Get(srv.URL + "/images/" + sha + "?device=" + d + "&token=" + c.downloadToken(d))
				if err != nil {
					errs <- err
					return
				}
				defer r.Body.Close()
				if n, _ := io.Copy(io.Discard, r.Body); r.StatusCode != 200 || n != size {
					errs <- fmt.Errorf("%s: %d, %d bytes", d, r.StatusCode, n)
				}
			}()
		}
		wg.Wait()
		// A client can read the last byte before its handler returns (and
		// releases the pacer): Close waits for the handlers.
		srv.Close()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.pacers) != 0 {
			t.Fatalf("%d pacers left after the downloads", len(e.pacers))
		}
		var booked []time.Duration
		for _, p := range made {
			booked = append(booked, p.next.Sub(t0))
		}
		return booked
	}
	// 256 KiB at 512 KiB/s books 0.5 s.
	if got := run(t, "dev-a", "dev-a"); len(got) != 1 || got[0] != time.Second {
		t.Fatalf("one device, two downloads: budgets booked %v, want one of 1s", got)
	}
	if got := run(t, "dev-a", "dev-b"); len(got) != 2 || got[0] != time.Second/2 || got[1] != time.Second/2 {
		t.Fatalf("two devices: budgets booked %v, want two of 500ms", got)
	}
}
