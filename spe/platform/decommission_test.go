package platform_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/platform"
)

// serveOnSocket opens the platform of a provisioned device with client -1
// (every local peer) allowed to change the lifecycle, and serves it on a
// real Unix socket.
func serveOnSocket(t *testing.T, devDir, stateDir string) (*platform.Platform, string) {
	t.Helper()
	d, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p, err := platform.Open(platform.Options{StateDir: stateDir, Device: d, LifecycleAdmins: []int32{-1},
		Server: spe.Options{Identify: func(int, int) (int32, error) { return -1, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	dir, err := os.MkdirTemp("", "spe-decom")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "spe.sock")
	if err := p.Server.Listen(sock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Server.Serve() }()
	t.Cleanup(func() {
		p.Server.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return p, sock
}

func dialT(t *testing.T, sock string) *ipc.Conn {
	t.Helper()
	c, err := ipc.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDecommissionStopsTheRunningSPE: keys loaded, open operations and
// storage in use before decommissioning are unusable in the same process
// at once, over the socket: the connection opened before gets BAD_STATE,
// and a new connection finds the key-holding services gone (as after a
// restart). It failed before the services were retired and wiped: a new
// connection still exported and signed with the old keys.
func TestDecommissionStopsTheRunningSPE(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	p, sock := serveOnSocket(t, devDir, stateDir)

	old, err := psaclient.NewClient(dialT(t, sock))
	if err != nil {
		t.Fatal(err)
	}
	signer := psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Lifetime: psa.LifetimePersistent, ID: 5,
		Usage: psa.UsageSignHash | psa.UsageExport, Algorithm: psa.AlgECDSA(psa.AlgSHA256)}
	pers, err := old.GenerateKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := old.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageExport})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("before"))
	if _, err := old.SignHash(pers, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err != nil {
		t.Fatal(err)
	}
	op, err := old.HashSetup(psa.AlgSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := psaclient.NewPS(dialT(t, sock)).Set(1, []byte("customer data"), 0); err != nil {
		t.Fatal(err)
	}
	if err := psaclient.NewITS(dialT(t, sock)).Set(1, []byte("device secret"), 0); err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	if _, err := psaclient.NewAttestation(dialT(t, sock)).Token(nonce); err != nil {
		t.Fatal(err)
	}
	if p.Crypto.KeysInMemory() == 0 || p.Crypto.OpenOperations() != 1 {
		t.Fatalf("before: %d keys, %d operations in memory", p.Crypto.KeysInMemory(), p.Crypto.OpenOperations())
	}

	if err := psaclient.NewLifecycle(dialT(t, sock)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}

	// In memory: nothing left to use.
	if n, ops := p.Crypto.KeysInMemory(), p.Crypto.OpenOperations(); n != 0 || ops != 0 {
		t.Errorf("after: %d keys, %d operations still in memory", n, ops)
	}
	if !bytes.Equal(p.HUK(), make([]byte, len(p.HUK()))) {
		t.Error("the platform's copy of the HUK survives")
	}
	// The connection opened before: every call on its handle is refused.
	if _, err := old.ExportKey(vol); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("old connection, export volatile key: %v", err)
	}
	if _, err := old.ExportKey(pers); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("old connection, export persistent key: %v", err)
	}
	if _, err := old.SignHash(pers, psa.AlgECDSA(psa.AlgSHA256), digest[:]); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("old connection, sign: %v", err)
	}
	if err := op.Update([]byte("x")); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("old connection, hash operation: %v", err)
	}
	// A new connection: the services are gone, as after a restart.
	if _, err := psaclient.Dial(sock); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("connect to crypto: %v", err)
	}
	fresh := dialT(t, sock)
	for _, r := range []struct {
		name string
		req  *ipc.Request
	}{
		{"stateless export", &ipc.Request{Kind: ipc.KindStateless, SID: psa.CryptoSID, Version: psa.CryptoVersion, Type: int32(psa.OpExportKey),
			In: [][]byte{binary.LittleEndian.AppendUint32(nil, uint32(pers))}, OutSize: []uint32{256}}},
		{"stateless sign", &ipc.Request{Kind: ipc.KindStateless, SID: psa.CryptoSID, Version: psa.CryptoVersion, Type: int32(psa.OpSignHash),
			In: [][]byte{binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(pers)), uint32(psa.AlgECDSA(psa.AlgSHA256))), digest[:]}, OutSize: []uint32{256}}},
	} {
		rep, err := fresh.RoundTrip(r.req)
		if err != nil || rep.Status != ipc.ErrConnectionRefused {
			t.Errorf("%s: %v %v", r.name, rep, err)
		}
	}
	if _, err := psaclient.NewPS(dialT(t, sock)).Get(1, 0, 64); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("PS get: %v", err)
	}
	if _, err := psaclient.NewITS(dialT(t, sock)).Get(1, 0, 64); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("ITS get: %v", err)
	}
	if _, err := psaclient.NewAttestation(dialT(t, sock)).Token(nonce); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("attestation: %v", err)
	}
	if _, err := psaclient.NewAttestation(dialT(t, sock)).PublicKey(); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("attestation public key: %v", err)
	}
	// The services hold nothing even when called directly, in process.
	if _, err := p.PS.Get(-1, 1, 0, 64); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("PS in process: %v", err)
	}
	if _, err := p.ITS.Get(-1, 1, 0, 64); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("ITS in process: %v", err)
	}
	if p.Attestation.PublicKey() != nil {
		t.Error("the IAK is still loaded")
	}
	if st, err := psaclient.NewLifecycle(dialT(t, sock)).Get(); err != nil || attest.Lifecycle(st).Major() != attest.LifecycleDecommissioned {
		t.Errorf("lifecycle after: %x %v", st, err)
	}
}

// TestDecommissionUnderLoad: clients keep exporting, signing and using
// storage over the socket while the device is decommissioned. Every call
// either completes with the real result (an exported key is never seen
// half wiped) or fails, and once decommissioning returned no call
// succeeds. Run with -race, it also shows that no key is wiped under a
// call still using it.
func TestDecommissionUnderLoad(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	_, sock := serveOnSocket(t, devDir, stateDir)
	setup, err := psaclient.NewClient(dialT(t, sock))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0x5c}, 32)
	id, err := setup.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256, Lifetime: psa.LifetimePersistent, ID: 3, Usage: psa.UsageExport}, want)
	if err != nil {
		t.Fatal(err)
	}
	var decommissioned atomic.Bool
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 4 {
		c, err := psaclient.NewClient(dialT(t, sock))
		if err != nil {
			t.Fatal(err)
		}
		ps := psaclient.NewPS(dialT(t, sock))
		wg.Add(1)
		go func() {
			// Until one round that started after decommissioning returned.
			defer wg.Done()
			for after := false; !after; {
				after = decommissioned.Load()
				k, err := c.ExportKey(id)
				if err == nil && (after || !bytes.Equal(k, want)) {
					errs <- fmt.Errorf("export after=%v: %x", after, k)
					return
				}
				if after && !errors.Is(err, ipc.ErrBadState) {
					errs <- fmt.Errorf("export after decommissioning: %v", err)
					return
				}
				if err := ps.Set(9, []byte("x"), 0); err == nil && after {
					errs <- errors.New("PS set after decommissioning")
					return
				}
			}
		}()
	}
	if err := psaclient.NewLifecycle(dialT(t, sock)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}
	decommissioned.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
