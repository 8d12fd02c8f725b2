package platform_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/platform"
)

// waitRestarted waits until r runs again under a new pid.
func waitRestarted(t *testing.T, r *spe.Remote, old int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.Restarts() < 1 || r.PID() == 0 || r.PID() == old {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not restarted (restarts %d, pid %d)", r.Name(), r.Restarts(), r.PID())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKillPRoTPartitionMidCall kills level 3's crypto process while a call
// is in it (stopped first, so the call is surely there): the caller gets
// PSA_ERROR_SERVICE_FAILURE, ITS, PS and attestation keep serving, and the
// restarted crypto process opens the persistent key made before (its store
// key comes again from the root key partition). Then the root key
// partition is killed: crypto keeps serving on the key it has, and after
// the restart PS derives its object keys again.
func TestKillPRoTPartitionMidCall(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	c, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	attrs := psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, ID: 0x51,
		Lifetime: psa.LifetimePersistent, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)}
	id, err := c.GenerateKey(attrs)
	if err != nil {
		t.Fatal(err)
	}
	cryptoProc := e.remote(t, platform.GroupCrypto)
	pid := cryptoProc.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
	res := make(chan ipc.Status, 1)
	go func() {
		_, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32))
		res <- statusOf(err)
	}()
	time.Sleep(200 * time.Millisecond) // the call reaches the stopped process's link
	if err := probeKill(pid); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-res:
		if st != ipc.ErrServiceFailure {
			t.Fatalf("call on a killed crypto process: %v, want PSA_ERROR_SERVICE_FAILURE", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller of a killed crypto process was left waiting")
	}
	storageRound(t, e) // ITS, PS and attestation are other processes
	waitRestarted(t, cryptoProc, pid)
	c2, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); err != nil {
		t.Fatalf("the restarted crypto process cannot use the persistent key: %v", err)
	}

	root := e.remote(t, platform.GroupRootKey)
	rootPID := root.PID()
	if err := probeKill(rootPID); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); err != nil {
		t.Fatalf("crypto stopped serving when the root key partition died: %v", err)
	}
	waitRestarted(t, root, rootPID)
	storageRound(t, e)
	serviceRound(t, e)
}

// waitStopped waits until every thread of pid is stopped (a signal is
// delivered asynchronously).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			// The state follows the command's closing parenthesis.
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// storageRound writes and reads back an ITS and a PS object and gets a token.
func storageRound(t *testing.T, e *isoSPE) {
	t.Helper()
	its := psaclient.NewITS(e.dial(t))
	if err := its.Set(9, []byte("kept"), 0); err != nil {
		t.Fatalf("its: %v", err)
	}
	ps := psaclient.NewPS(e.dial(t))
	if err := ps.Set(9, []byte("sealed"), 0); err != nil {
		t.Fatalf("ps set: %v", err)
	}
	if got, err := ps.Get(9, 0, 64); err != nil || string(got) != "sealed" {
		t.Fatalf("ps get: %q %v", got, err)
	}
	if _, err := psaclient.NewAttestation(e.dial(t)).Token(make([]byte, 32)); err != nil {
		t.Fatalf("token: %v", err)
	}
}

// statusOf is the PSA status an error carries (SUCCESS for nil).
func statusOf(err error) ipc.Status {
	if err == nil {
		return ipc.Success
	}
	var st ipc.Status
	if errors.As(err, &st) {
		return st
	}
	return ipc.ErrCommunicationFailure
}

// TestKillPlatformPartitionMidCall does to each of lifecycle, audit, FWU
// and attestation (one process each at level 3) what
// TestKillPRoTPartitionMidCall does to crypto: stopped, a call in it,
// killed: that caller gets PSA_ERROR_SERVICE_FAILURE, crypto, ITS and PS
// keep serving, and the restarted process answers the same call.
func TestKillPlatformPartitionMidCall(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	calls := []struct {
		group string
		sid   uint32
		typ   int32
		in    [][]byte
		out   []uint32
	}{
		{platform.GroupLifecycle, psa.LifecycleSID, int32(psa.LifecycleOpGet), nil, []uint32{2}},
		{platform.GroupAudit, psa.AuditSID, int32(psa.AuditOpPublicKey), nil, []uint32{256}},
		{platform.GroupFWU, psa.FWUSID, int32(psa.FWUOpQuery), [][]byte{{0}}, []uint32{psa.FWUComponentInfoSize}},
		{platform.GroupAttestation, psa.AttestSID, int32(psa.AttestOpGetToken), [][]byte{make([]byte, 32)}, []uint32{4096}},
	}
	for _, call := range calls {
		t.Run(call.group, func(t *testing.T) {
			do := func() ipc.Status {
				st, _ := stateless(t, e.dial(t), call.sid, call.typ, call.in, call.out...)
				return st
			}
			if st := do(); st != ipc.Success {
				t.Fatalf("before: %v", st)
			}
			r := e.remote(t, call.group)
			pid := r.PID()
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			waitStopped(t, pid)
			res := make(chan ipc.Status, 1)
			go func() { res <- do() }()
			time.Sleep(200 * time.Millisecond) // the call reaches the stopped process's link
			if err := probeKill(pid); err != nil {
				t.Fatal(err)
			}
			select {
			case st := <-res:
				if st != ipc.ErrServiceFailure {
					t.Fatalf("call on a killed process: %v, want PSA_ERROR_SERVICE_FAILURE", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the caller of a killed process was left waiting")
			}
			c, err := psaclient.NewClient(e.dial(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GenerateRandom(16); err != nil {
				t.Errorf("crypto while %s was down: %v", call.group, err)
			}
			if err := psaclient.NewPS(e.dial(t)).Set(10, []byte("x"), 0); err != nil {
				t.Errorf("PS while %s was down: %v", call.group, err)
			}
			waitRestarted(t, r, pid)
			if st := do(); st != ipc.Success {
				t.Fatalf("after the restart: %v", st)
			}
		})
	}
	storageRound(t, e)
}
