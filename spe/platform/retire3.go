package platform

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"rampart/attest"
	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/lifecycle"
	"rampart/spe/rootkey"
)

// spmRetireManifest declares the SPM's decommissioning service (levels 2
// and 3): the lifecycle partition is its only client.
var spmRetireManifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SPM_RETIRE",
	Type:             spe.PSARoT,
	Services: []spe.ServiceManifest{{
		Name: "SPM_RETIRE", SID: spe.RetireSID, Version: 1, VersionPolicy: spe.Strict,
		Stateless: true, Clients: []int32{LifecyclePartitionID},
	}},
}

// killWait bounds how long the SPM waits for a killed process to be gone.
const killWait = 10 * time.Second

// spmRetire runs in the SPM: decommissioning at level 3 asks it to end
// every PRoT process but the lifecycle partition's, so that none keeps a
// key in memory (each is started again and, on the decommissioned device,
// opens nothing), and to take their services out of the SPM.
type spmRetire struct {
	srv     *spe.Server
	done    atomic.Bool // the device is decommissioned: every start is told so
	level2  bool        // one PRoT process, which retired its services itself: retire them here only
	mu      sync.Mutex
	remotes []*spe.Remote
}

func (h *spmRetire) add(r *spe.Remote) {
	h.mu.Lock()
	h.remotes = append(h.remotes, r)
	h.mu.Unlock()
}

func (h *spmRetire) Call(m *spe.Message) ipc.Status {
	if m.Client != LifecyclePartitionID {
		return ipc.ErrNotPermitted
	}
	if m.NumIn() != 0 || len(m.OutSize) != 0 {
		return ipc.ErrProgrammerError
	}
	h.done.Store(true)
	if h.level2 {
		// The caller's process has retired, wiped and shredded them; the
		// SPM stops routing their SIDs (and revokes their direct lanes).
		h.srv.Retire(keyHolders...)
		return ipc.Success
	}
	h.mu.Lock()
	rs := append([]*spe.Remote(nil), h.remotes...)
	h.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if !isLevel3PRoT(r.Name()) || r.Name() == GroupLifecycle {
			continue
		}
		old := r.PID()
		if err := r.Kill(killWait); err != nil {
			errs = append(errs, err)
			continue
		}
		// Started again, it shreds its own state before it answers ready:
		// once every process is back, the destruction is complete.
		if !waitNewPID(r, old, killWait) {
			errs = append(errs, fmt.Errorf("platform: %s did not start again after decommissioning", r.Name()))
		}
	}
	// Their calls in progress failed with the processes: Retire waits for
	// nothing long.
	h.srv.Retire(append([]string{rootkey.Manifest.Name}, keyHolders...)...)
	if err := errors.Join(errs...); err != nil {
		return m.Fail(ipc.ErrGenericError, err)
	}
	return ipc.Success
}

// spmClientID is the secure client ID the SPM reads the lifecycle state as.
const spmClientID int32 = 0xf000

// learnState asks the lifecycle partition, just started, for the state
// before any other PRoT process starts: the call waits until it has opened
// (and, on a decommissioned device, finished decommissioning again), and a
// decommissioned state makes every later start open nothing.
func (h *spmRetire) learnState() error {
	c, err := h.srv.Local(spmClientID)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := lifecycle.Client{T: c}.Get()
	if err != nil {
		return fmt.Errorf("platform: the lifecycle partition: %w", err)
	}
	if attest.Lifecycle(st).Major() == attest.LifecycleDecommissioned {
		h.done.Store(true)
	}
	return nil
}

// waitNewPID waits until r serves under a pid other than old.
func waitNewPID(r *spe.Remote, old int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if pid := r.PID(); pid != 0 && pid != old {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// retireProcesses asks the SPM, as the lifecycle partition, to end every
// other PRoT process (level 3 decommissioning).
func (p *Platform) retireProcesses() error {
	return retireInSPM(p.calls.get(LifecyclePartitionID))
}

// retireInSPM calls the SPM's retire service as the lifecycle partition:
// at level 3 it ends every other PRoT process and retires their SIDs, at
// level 2 it retires the key holders' SIDs.
func retireInSPM(c ipc.Transport) error {
	rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: spe.RetireSID, Version: 1})
	if err == nil && rep.Status != ipc.Success {
		err = rep.Status
	}
	if err != nil {
		return fmt.Errorf("platform: retiring the PRoT processes: %w", err)
	}
	return nil
}
