package sim

import (
	"runtime"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/platform"
)

// speGate bounds how many of this process's simulated SPEs work on
// firmware updates at once. A real device's SPE has its own core; here
// thousands share the machine's few, and an FWU call (a block written, the
// candidate verified, the reboot's swap of a 1 MiB slot, a query that
// validates the slots) is CPU and memory-copy work with no waiting in it.
// Unbounded, a campaign's whole fleet of a process verified and installed
// at once, each with megabyte buffers of its slot live: 2-4 MB of heap a
// device at 500 devices a process, out of memory at 10,000
// (docs/perf/goals.md, goal 6). Queued calls wait without buffers; the work
// done, and its CPU, are the same. The bound is one of memory, not of
// cores: an FWU call also waits on the disk (each state change is a file
// written and synced), and with four slots (two a core) a 1,000-device
// campaign stalled behind those waits. Other services (the TLS key's
// signatures, attestation) are not gated: they are small, and a device
// waits for them inside network exchanges that have deadlines.
var speGate = make(chan struct{}, 16*runtime.GOMAXPROCS(0))

// gated is an SPE session whose FWU calls pass through gate.
type gated struct {
	ipc.Transport
	gate chan struct{}
}

func (g gated) RoundTrip(req *ipc.Request) (*ipc.Reply, error) {
	if req.SID == psa.FWUSID && (req.Kind == ipc.KindStateless || req.Kind == ipc.KindConnect) {
		g.gate <- struct{}{}
		defer func() { <-g.gate }()
	}
	return g.Transport.RoundTrip(req)
}

// gatedLocal opens in-process SPE sessions of p (non-secure client ID -1)
// whose calls pass through speGate.
func gatedLocal(p *platform.Platform) func() (ipc.Transport, error) {
	return func() (ipc.Transport, error) {
		c, err := p.Server.Local(-1)
		if err != nil {
			return nil, err
		}
		return gated{c, speGate}, nil
	}
}
