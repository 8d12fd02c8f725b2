package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Faults choose what goes wrong in a run.
type Faults struct {
	// FlakyNetwork is the probability that a device's connection attempt
	// fails (0..1); the agent retries with backoff.
	FlakyNetwork float64
	// PowerCuts devices lose power once during their update (after the
	// image was staged, before the reboot) and resume after power-on.
	PowerCuts int
	// Tampered devices receive an image with one flipped byte: the job's
	// digest matches the bytes served, the SPE must refuse the image.
	Tampered int
	// ClockSkew devices run with their clock 36 hours fast: the broker
	// refuses their timestamps and the agent falls back to server time.
	ClockSkew int
}

// ErrPowerCut is the simulated power cut returned by a hook.
var ErrPowerCut = errors.New("sim: power cut")

// flakyDialer fails a share of dials, as a poor link does.
type flakyDialer struct {
	p  float64
	mu sync.Mutex
	r  *rand.Rand
	d  net.Dialer
}

func newFlakyDialer(p float64, seed uint64) *flakyDialer {
	return &flakyDialer{p: p, r: rand.New(rand.NewPCG(seed, 0x5241)), d: net.Dialer{Timeout: 10 * time.Second}}
}

func (f *flakyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	fail := f.r.Float64() < f.p
	f.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("simulated network failure")}
	}
	return f.d.DialContext(ctx, network, addr)
}
