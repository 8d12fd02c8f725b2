package platform

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/rootkey"
)

// spmRetireManifest declares the SPM's decommissioning service (level 3):
// the lifecycle partition is its only client.
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
	h.mu.Lock()
	rs := append([]*spe.Remote(nil), h.remotes...)
	h.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if isLevel3PRoT(r.Name()) && r.Name() != GroupLifecycle {
			errs = append(errs, r.Kill(killWait))
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

// retireProcesses asks the SPM, as the lifecycle partition, to end every
// other PRoT process (level 3 decommissioning).
func (p *Platform) retireProcesses() error {
	rep, err := p.calls.get(LifecyclePartitionID).RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: spe.RetireSID, Version: 1})
	if err == nil && rep.Status != ipc.Success {
		err = rep.Status
	}
	if err != nil {
		return fmt.Errorf("platform: retiring the PRoT processes: %w", err)
	}
	return nil
}
