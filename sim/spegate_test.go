package sim

import (
	"sync"
	"sync/atomic"
	"testing"

	"rampart/ipc"
	"rampart/psa"
)

// busySPE counts the calls inside it at once; each waits for release.
type busySPE struct {
	in, most atomic.Int32
	release  chan struct{}
}

func (b *busySPE) RoundTrip(*ipc.Request) (*ipc.Reply, error) {
	n := b.in.Add(1)
	for m := b.most.Load(); n > m && !b.most.CompareAndSwap(m, n); m = b.most.Load() {
	}
	<-b.release
	b.in.Add(-1)
	return &ipc.Reply{}, nil
}

func (b *busySPE) Close() error { return nil }

// TestSPEGateBounds: however many devices call their SPEs' FWU service at
// once, at most the gate's capacity of calls run together, and every call
// ends; a call to another service does not wait for the gate.
func TestSPEGateBounds(t *testing.T) {
	const callers, capacity = 64, 3
	spe := &busySPE{release: make(chan struct{})}
	gate := make(chan struct{}, capacity)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := (gated{spe, gate}).RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.FWUSID}); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := 0; i < callers; i++ {
		spe.release <- struct{}{}
	}
	wg.Wait()
	full := make(chan struct{}, 1)
	full <- struct{}{}
	go spe.RoundTrip(nil) // one call inside, so the next is counted as concurrent
	done := make(chan error, 1)
	go func() {
		_, err := (gated{spe, full}).RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.AttestSID})
		done <- err
	}()
	spe.release <- struct{}{}
	spe.release <- struct{}{}
	if err := <-done; err != nil {
		t.Error(err)
	}
	if m := spe.most.Load(); m > capacity || m < 1 {
		t.Errorf("%d calls ran at once through a gate of %d", m, capacity)
	}
}
