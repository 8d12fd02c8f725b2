package platform_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/platform"
	_ "rampart/spe/sensor"
)

// The test binary is also the partition processes' binary: run with
// RAMPART_TEST_PARTITION=1, it is `rampart spe partition` on fd 3.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("RAMPART_TEST_PARTITION") == "1" {
		c, err := net.FileConn(os.NewFile(3, "spm-link"))
		if err == nil {
			err = platform.RunPartition(c)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "partition:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The probe is a second application partition, for the tests: it reports
// what the partition manager lets it reach, and blocks on request.
const (
	probeSID                   = 0x00010100
	probeID              int32 = 0x2f01
	probeOpReach               = 1 // in0 = SID u32; out0 = version u32, connect status i32, stateless status i32
	probeOpBlock               = 2 // writes "blocked" in its state directory, then waits 20 s
	probeOpRead                = 3 // in0 = a path: SUCCESS if the process can read it, NOT_PERMITTED if not
	probeBlockedMarker         = "blocked"
	partitionTestTimeout       = 20 * time.Second
)

var probeManifest = spe.PartitionManifest{
	FrameworkVersion: "1.1", Name: "RAMPART_SP_TEST_PROBE", Type: spe.ApplicationRoT,
	Services: []spe.ServiceManifest{{Name: "PROBE", SID: probeSID, Version: 1, Stateless: true, ConnectionBased: true, NonSecureClients: true}},
	// The crypto service only: ITS, say, is out of its reach.
	Dependencies: []uint32{psa.CryptoSID},
}

func init() {
	spe.RegisterApplication(spe.Application{ID: probeID, Manifest: probeManifest, New: func(env spe.AppEnv) (map[string]spe.Handler, error) {
		return map[string]spe.Handler{"PROBE": spe.HandlerFunc(func(m *spe.Message) ipc.Status {
			switch m.Type {
			case probeOpReach:
				return m.Write(0, probeReach(env.Caller, binary.LittleEndian.Uint32(m.InVec(0))))
			case probeOpRead:
				if _, err := os.ReadFile(string(m.InVec(0))); err != nil {
					return ipc.ErrNotPermitted
				}
				return ipc.Success
			case probeOpBlock:
				os.WriteFile(filepath.Join(env.StateDir, probeBlockedMarker), []byte("x"), 0o600)
				time.Sleep(partitionTestTimeout)
				return ipc.Success
			}
			return ipc.ErrNotSupported
		})}, nil
	}})
}

// probeReach asks for sid's version, connects to it and calls it
// statelessly (a generate_random shape), and reports the three answers.
func probeReach(c ipc.Transport, sid uint32) []byte {
	out := make([]byte, 12)
	if rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindVersion, SID: sid}); err == nil {
		binary.LittleEndian.PutUint32(out, rep.Version)
	}
	st := ipc.ErrCommunicationFailure
	if rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: sid, Version: 1}); err == nil {
		st = rep.Status
		if st == ipc.Success {
			c.RoundTrip(&ipc.Request{Kind: ipc.KindClose, Handle: rep.Handle})
		}
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(st))
	st = ipc.ErrCommunicationFailure
	if rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: 1, Type: int32(psa.OpGenerateRandom), OutSize: []uint32{16}}); err == nil {
		st = rep.Status
	}
	binary.LittleEndian.PutUint32(out[8:], uint32(st))
	return out
}

// isoSPE is an SPE at one isolation level on a real socket.
type isoSPE struct {
	level   int
	sock    string
	srv     *spe.Server
	remotes []*spe.Remote
}

// partitionCommand runs this test binary as a partition process.
func partitionCommand(string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RAMPART_TEST_PARTITION=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// startLevel serves the device's SPE at level, every peer mapped to client -1.
func startLevel(t *testing.T, level int, devDir, stateDir string) *isoSPE {
	t.Helper()
	return startIsolated(t, platform.Isolated{Level: level, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir}})
}

// startIsolated serves iso's SPE (Command defaults to partitionCommand).
func startIsolated(t *testing.T, iso platform.Isolated) *isoSPE {
	t.Helper()
	return startIsolatedWith(t, iso, false)
}

// startIsolatedWith is startIsolated, with every call on sockets when
// socketOnly (no shared-memory lanes: the baseline of TestIsolationCost).
func startIsolatedWith(t *testing.T, iso platform.Isolated, socketOnly bool) *isoSPE {
	t.Helper()
	level, devDir, stateDir := iso.Level, iso.Spec.DeviceDir, iso.Spec.StateDir
	identify := func(int, int) (int32, error) { return -1, nil }
	logger := log.New(os.Stderr, fmt.Sprintf("spe level %d: ", level), 0)
	e := &isoSPE{level: level}
	if level == 1 {
		d, err := platform.OpenDevice(devDir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		p, err := platform.Open(platform.Options{StateDir: stateDir, Device: d, Server: spe.Options{Identify: identify, Logf: logger.Printf, NoSharedMemory: socketOnly}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		if err := platform.RegisterApplications(p.Server, platform.Spec{StateDir: stateDir}); err != nil {
			t.Fatal(err)
		}
		e.srv = p.Server
	} else {
		e.srv = spe.New(spe.Options{Identify: identify, Logf: logger.Printf, NoSharedMemory: socketOnly})
		if err := e.srv.RegisterStatus(); err != nil {
			t.Fatal(err)
		}
		var err error
		if iso.Command == nil {
			iso.Command = partitionCommand
		}
		e.remotes, err = platform.StartIsolated(e.srv, iso)
		if err != nil {
			e.srv.Shutdown()
			t.Fatal(err)
		}
	}
	e.serve(t, "spe-iso")
	return e
}

// serve listens on a socket in a fresh directory (short enough for a
// Unix socket path) and serves e.srv until the test ends.
func (e *isoSPE) serve(t *testing.T, prefix string) {
	t.Helper()
	sockDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	e.sock = filepath.Join(sockDir, "run", "spe.sock")
	if err := e.srv.Listen(e.sock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve() }()
	t.Cleanup(func() {
		e.srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

func (e *isoSPE) dial(t *testing.T) *ipc.Conn {
	t.Helper()
	c, err := ipc.Dial(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *isoSPE) remote(t *testing.T, name string) *spe.Remote {
	t.Helper()
	for _, r := range e.remotes {
		if r.Name() == name {
			return r
		}
	}
	t.Fatalf("no partition process %q", name)
	return nil
}

// stateless makes one stateless call and returns its status and outputs.
func stateless(t *testing.T, c ipc.Transport, sid uint32, typ int32, in [][]byte, out ...uint32) (ipc.Status, [][]byte) {
	t.Helper()
	rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: 1, Type: typ, In: in, OutSize: out})
	if err != nil {
		t.Fatal(err)
	}
	outs := make([][]byte, len(rep.Out))
	for i, o := range rep.Out {
		outs[i] = append([]byte(nil), o...)
	}
	return rep.Status, outs
}

// verifyP256 checks a PSA ECDSA signature (r‖s) with a PSA public key (04‖X‖Y).
func verifyP256(t *testing.T, pub, digest, sig []byte) bool {
	t.Helper()
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil || len(sig) != 64 {
		t.Fatalf("public key %x, signature %x: %v", pub, sig, err)
	}
	return ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// sensorReading reads the sensor and checks the reading's signature with
// the sensor's public key.
func sensorReading(t *testing.T, c ipc.Transport) []byte {
	t.Helper()
	st, pub := stateless(t, c, psa.SensorSID, int32(psa.SensorOpPublicKey), nil, 65)
	if st != ipc.Success {
		t.Fatalf("sensor public key: %v", st)
	}
	nonce := []byte("fresh challenge")
	st, out := stateless(t, c, psa.SensorSID, int32(psa.SensorOpRead), [][]byte{nonce}, psa.SensorReadingSize, 64)
	if st != ipc.Success {
		t.Fatalf("sensor read: %v", st)
	}
	h := sha256.Sum256(append(append([]byte(nil), out[0]...), nonce...))
	if !verifyP256(t, pub[0], h[:], out[1]) {
		t.Fatal("the sensor's reading does not verify with its public key")
	}
	return out[0]
}

// serviceRound is the representative service pass of every level: crypto
// (a key made, used and checked outside), ITS, PS, attestation, lifecycle,
// the sensor partition and the status service.
func serviceRound(t *testing.T, e *isoSPE) {
	t.Helper()
	c, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := c.ExportPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("level"))
	sig, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if !verifyP256(t, pub, digest[:], sig) {
		t.Fatal("signature made in the SPE does not verify")
	}
	its := psaclient.NewITS(e.dial(t))
	if err := its.Set(7, []byte("isolated"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := its.Get(7, 0, 64); err != nil || string(got) != "isolated" {
		t.Fatalf("its get: %q %v", got, err)
	}
	ps := psaclient.NewPS(e.dial(t))
	if err := ps.Set(7, []byte("sealed"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.Get(7, 0, 64); err != nil || string(got) != "sealed" {
		t.Fatalf("ps get: %q %v", got, err)
	}
	tok, err := psaclient.NewAttestation(e.dial(t)).Token(make([]byte, 32))
	if err != nil || len(tok) < 100 {
		t.Fatalf("token: %d bytes, %v", len(tok), err)
	}
	if _, err := psaclient.NewLifecycle(e.dial(t)).Get(); err != nil {
		t.Fatal(err)
	}
	sensorReading(t, e.dial(t))
	st, out := stateless(t, e.dial(t), spe.StatusSID, 0, nil, 1<<16)
	if st != ipc.Success || !bytes.Contains(out[0], []byte("RAMPART_SP_SENSOR")) || !bytes.Contains(out[0], []byte("RAMPART_SP_CRYPTO")) {
		t.Fatalf("status: %v %s", st, out)
	}
}

// TestIsolationLevels serves one provisioned device at levels 1, 2 and 3
// with the same services, and counts the partition processes of each.
func TestIsolationLevels(t *testing.T) {
	for level, procs := range map[int]int{1: 0, 2: 2, 3: 10} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			devDir, stateDir := newDevice(t)
			provisionDevice(t, devDir, stateDir)
			e := startLevel(t, level, devDir, stateDir)
			if len(e.remotes) != procs {
				t.Fatalf("%d partition processes, want %d", len(e.remotes), procs)
			}
			serviceRound(t, e)
		})
	}
}

// TestPartitionDependencies: a partition reaches the SIDs its manifest
// lists and no other, at every level.
func TestPartitionDependencies(t *testing.T) {
	for _, level := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			devDir, stateDir := newDevice(t)
			provisionDevice(t, devDir, stateDir)
			e := startLevel(t, level, devDir, stateDir)
			c := e.dial(t)
			reach := func(sid uint32) (uint32, ipc.Status, ipc.Status) {
				st, out := stateless(t, c, probeSID, probeOpReach, [][]byte{binary.LittleEndian.AppendUint32(nil, sid)}, 12)
				if st != ipc.Success {
					t.Fatalf("probe: %v", st)
				}
				return binary.LittleEndian.Uint32(out[0]), ipc.Status(int32(binary.LittleEndian.Uint32(out[0][4:]))), ipc.Status(int32(binary.LittleEndian.Uint32(out[0][8:])))
			}
			if v, conn, call := reach(psa.ITSSID); v != 0 || conn != ipc.ErrConnectionRefused || call != ipc.ErrConnectionRefused {
				t.Errorf("probe reached ITS, which its manifest does not list: version %d, connect %v, call %v", v, conn, call)
			}
			if v, conn, call := reach(psa.SensorSID); v != 0 || conn != ipc.ErrConnectionRefused || call != ipc.ErrConnectionRefused {
				t.Errorf("probe reached the sensor partition: version %d, connect %v, call %v", v, conn, call)
			}
			if v, conn, call := reach(psa.CryptoSID); v != 1 || conn != ipc.Success || call != ipc.Success {
				t.Errorf("probe could not reach crypto, its dependency: version %d, connect %v, call %v", v, conn, call)
			}
		})
	}
}

// TestKillPartitionMidCall kills an application partition's process while
// it serves a call: the caller gets an error, the other partitions keep
// serving, and the partition manager starts the process again.
func TestKillPartitionMidCall(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	probe := e.remote(t, "app:"+probeManifest.Name)
	pid := probe.PID()
	marker := filepath.Join(stateDir, "apps", probeManifest.Name, probeBlockedMarker)
	os.Remove(marker)
	c := e.dial(t)
	res := make(chan ipc.Status, 1)
	go func() {
		rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: probeSID, Version: 1, Type: probeOpBlock})
		if err != nil {
			res <- ipc.ErrCommunicationFailure
			return
		}
		res <- rep.Status
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe never started the blocking call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := probeKill(pid); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-res:
		if st != ipc.ErrServiceFailure {
			t.Fatalf("call on a killed partition: %v, want PSA_ERROR_SERVICE_FAILURE", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller of a killed partition was left waiting")
	}
	// The others keep serving, on the same connection and new ones.
	sensorReading(t, c)
	serviceRound(t, e)
	deadline = time.Now().Add(10 * time.Second)
	for probe.Restarts() < 1 || probe.PID() == 0 || probe.PID() == pid {
		if time.Now().After(deadline) {
			t.Fatalf("the partition was not restarted (restarts %d, pid %d)", probe.Restarts(), probe.PID())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, out := stateless(t, c, probeSID, probeOpReach, [][]byte{binary.LittleEndian.AppendUint32(nil, psa.CryptoSID)}, 12)
	if st != ipc.Success || binary.LittleEndian.Uint32(out[0]) != 1 {
		t.Fatalf("the restarted partition: %v %x", st, out)
	}
}

func probeKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
