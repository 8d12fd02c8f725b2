package lifecycle

import (
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// Client reaches the lifecycle partition from another secure partition or
// the partition manager (level 3), over a session the partition manager
// limits to the caller's manifest dependencies. The secure side has its own
// client so that it never links the non-secure one (psaclient).
type Client struct{ T ipc.Transport }

// Get returns the PSA security lifecycle state (major state in bits 15..8).
func (c Client) Get() (uint16, error) {
	rep, err := c.T.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.LifecycleSID, Version: psa.LifecycleVersion,
		Type: int32(psa.LifecycleOpGet), OutSize: []uint32{2}})
	if err != nil {
		return 0, fmt.Errorf("lifecycle: %w", err)
	}
	if rep.Status != ipc.Success {
		return 0, fmt.Errorf("lifecycle: %w", rep.Status)
	}
	if len(rep.Out) != 1 {
		return 0, fmt.Errorf("lifecycle: get answered %d outputs", len(rep.Out))
	}
	st, err := psa.ParseUint16(rep.Out[0])
	if err != nil {
		return 0, fmt.Errorf("lifecycle: get: %w", err)
	}
	return st, nil
}
