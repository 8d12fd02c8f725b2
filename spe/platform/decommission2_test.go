package platform_test

import (
	"errors"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psaclient"
	"rampart/spe/platform"
)

// TestDecommissionLevel2 shows that decommissioning at level 2 takes the
// key holders' SIDs out of the SPM too (the PRoT process used to retire
// them only in itself, while the SPM kept routing them: a connect to
// crypto succeeded), and that an SPM started on a decommissioned device
// routes none of them.
func TestDecommissionLevel2(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	spec := platform.Spec{StateDir: stateDir, DeviceDir: devDir, LifecycleAdmins: []int32{-1}}
	e := startIsolated(t, platform.Isolated{Level: 2, Spec: spec})
	old, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.GenerateRandom(16); err != nil {
		t.Fatal(err)
	}
	if err := psaclient.NewLifecycle(e.dial(t)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}
	if _, err := old.GenerateRandom(16); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("a call on a handle opened before: %v, want PSA_ERROR_BAD_STATE", err)
	}
	if _, err := psaclient.NewClient(e.dial(t)); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("a connect to crypto after decommissioning: %v, want PSA_ERROR_CONNECTION_REFUSED", err)
	}
	wantRetired(t, e)

	again := startIsolated(t, platform.Isolated{Level: 2, Spec: spec})
	if _, err := psaclient.NewClient(again.dial(t)); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("a connect to crypto on a decommissioned device: %v, want PSA_ERROR_CONNECTION_REFUSED", err)
	}
	wantRetired(t, again)
}
