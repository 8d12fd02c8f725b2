package platform_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/platform"
)

// TestDecommissionLevel3: decommissioning at level 3 runs in the platform
// process, shreds the HUK file and retires the root key partition's HUK;
// an SPE started again at level 3 on the decommissioned device makes no
// new HUK, and its crypto, ITS and PS processes open nothing.
func TestDecommissionLevel3(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	spec := platform.Spec{StateDir: stateDir, DeviceDir: devDir, LifecycleAdmins: []int32{-1}}
	e := startIsolated(t, platform.Isolated{Level: 3, Spec: spec})
	serviceRound(t, e)
	if err := psaclient.NewLifecycle(e.dial(t)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, platform.HUKFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the HUK file after decommissioning: %v", err)
	}
	// PS needs a key from the root key partition for every object: none now.
	if err := psaclient.NewPS(e.dial(t)).Set(8, []byte("after"), 0); err == nil {
		t.Error("PS sealed an object after decommissioning")
	}

	again := startIsolated(t, platform.Isolated{Level: 3, Spec: spec})
	if _, err := os.Stat(filepath.Join(stateDir, platform.HUKFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a restart on a decommissioned device made a HUK file: %v", err)
	}
	if st, err := psaclient.NewLifecycle(again.dial(t)).Get(); err != nil || attest.Lifecycle(st).Major() != attest.LifecycleDecommissioned {
		t.Fatalf("lifecycle after the restart: %#x %v", st, err)
	}
	wantRetired(t, again)
}

// keyHolderSIDs are the services decommissioning takes away.
var keyHolderSIDs = []uint32{psa.CryptoSID, psa.ITSSID, psa.PSSID, psa.AttestSID, psa.AuditSID, psa.FWUSID}

// wantRetired checks that every key holder's SID refuses a stateless call,
// whether the SPM retired it or its restarted process serves nothing.
func wantRetired(t *testing.T, e *isoSPE) {
	t.Helper()
	for _, sid := range keyHolderSIDs {
		if st, _ := stateless(t, e.dial(t), sid, 1, nil); st != ipc.ErrConnectionRefused {
			t.Errorf("SID %#x on a decommissioned device: %v, want PSA_ERROR_CONNECTION_REFUSED", sid, st)
		}
	}
}

// TestLevel3ITSOnFlash: with ITS on the device's flash, level 3 runs ITS
// in the platform process (ITS and FWU write the same flash), and PS and
// audit reach it there by SID.
func TestLevel3ITSOnFlash(t *testing.T) {
	devDir, stateDir := newFlashITSDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startIsolated(t, platform.Isolated{Level: 3, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir, ITSOnFlash: true}})
	for _, r := range e.remotes {
		if r.Name() == platform.GroupITS {
			t.Fatal("ITS on flash runs in a process of its own, apart from FWU")
		}
	}
	serviceRound(t, e)
}
