package platform_test

import (
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/platform"
)

// TestInternalCallsRefuseOtherClients: the two calls level 3 added between
// secure processes are refused to a non-secure client: FWU's boot state
// (the measurements attestation signs; answered to the attestation
// partition alone) and the SPM's decommissioning service (which kills
// every key-holding process; the lifecycle partition is its only client).
// After both refusals the device still serves every partition.
func TestInternalCallsRefuseOtherClients(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	c := e.dial(t)
	if st, out := stateless(t, c, psa.FWUSID, int32(platform.FWUOpBootState), nil, 4096); st == ipc.Success {
		t.Fatalf("FWU boot state answered a non-secure client (%d bytes)", len(out[0]))
	}
	if st, _ := stateless(t, e.dial(t), spe.RetireSID, 0, nil); st == ipc.Success {
		t.Fatal("the SPM's decommissioning service answered a non-secure client")
	}
	serviceRound(t, e)
}
