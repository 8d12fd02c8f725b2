package cli

import (
	"fmt"
	"sync"
	"time"

	"rampart/adminapi"
	"rampart/internal/progress"
)

// progressAfter is how long a transfer runs before its progress shows: a
// quick one prints nothing. Tests set it to zero.
var progressAfter = time.Second

// meter shows the progress of c's large transfers (an endorsement import,
// a release upload, a telemetry or audit export) on standard error, never
// on standard output, which may carry the data itself: a redrawn line on a
// terminal, plain lines at most once a second otherwise, nothing with
// --quiet. The returned func ends the line once the transfer is over.
func (o *fleetOpts) meter(env *Env, c *adminapi.Client, what string) (done func()) {
	if o.quiet {
		return func() {}
	}
	line := progress.New(env.Stderr)
	start := time.Now()
	var mu sync.Mutex
	var shown bool
	var up, down adminapi.Transfer
	text := func() string {
		s := what + ": "
		if up.Done > 0 {
			s += "sent " + fmtTransfer(up)
		}
		if down.Done > 0 {
			if up.Done > 0 {
				s += ", "
			}
			s += "received " + fmtTransfer(down)
		}
		return s
	}
	c.Progress = func(t adminapi.Transfer) {
		mu.Lock()
		defer mu.Unlock()
		if t.Sending {
			up = t
		} else {
			down = t
		}
		if time.Since(start) < progressAfter {
			return
		}
		shown = true
		line.Update(text())
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if shown {
			line.Done(text())
		}
	}
}

// fmtTransfer says how much of a body has moved: "1.5 MiB of 4.0 MiB
// (37%)", or "1.5 MiB" when the total is unknown.
func fmtTransfer(t adminapi.Transfer) string {
	if t.Total <= 0 {
		return fmtBytes(t.Done)
	}
	return fmt.Sprintf("%s of %s (%d%%)", fmtBytes(t.Done), fmtBytes(t.Total), t.Done*100/t.Total)
}

// fmtBytes writes n in B, KiB, MiB or GiB.
func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
