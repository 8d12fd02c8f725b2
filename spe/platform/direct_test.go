package platform_test

import (
	"crypto/sha256"
	"errors"
	"log"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/platform"
)

// Direct lanes (docs/spe-isolation.md section 1, "Direct lanes"): the SPM
// grants a client, for one of its handles, a shared-memory lane to the
// partition process serving it. These tests run at level 3 with a client
// ID per connection (-1, -2, ... in the order they connect), so that two
// clients are told apart as two users would be.

const cryptoPartition = "RAMPART_SP_CRYPTO"

func startLevel3Clients(t *testing.T, tune ...func(*spe.Options)) *isoSPE {
	t.Helper()
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	var n atomic.Int32
	identify := func(int, int) (int32, error) { return -n.Add(1), nil }
	e := &isoSPE{level: 3}
	opt := spe.Options{Identify: identify, Logf: log.New(os.Stderr, "spe level 3: ", 0).Printf}
	for _, f := range tune {
		f(&opt)
	}
	e.srv = spe.New(opt)
	var err error
	e.remotes, err = platform.StartIsolated(e.srv, platform.Isolated{Level: 3, Command: partitionCommand,
		Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir}})
	if err != nil {
		e.srv.Shutdown()
		t.Fatal(err)
	}
	e.serve(t, "spe-direct")
	return e
}

// directCryptoClient dials e as a psaclient whose first call (random
// bytes) went over a direct lane.
func (e *isoSPE) directCryptoClient(t *testing.T) (*ipc.Conn, *psaclient.Client) {
	t.Helper()
	conn := e.dial(t)
	c, err := psaclient.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateRandom(16); err != nil || conn.DirectCalls() != 1 {
		t.Fatalf("%v, %d direct calls", err, conn.DirectCalls())
	}
	return conn, c
}

// rawClient speaks the wire format by hand, as a hostile client could:
// it keeps a granted lane's mapping and writes into it whatever it likes.
type rawClient struct {
	c   *net.UnixConn
	seq uint32
}

func dialRaw(t *testing.T, sock string) *rawClient {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{c: c.(*net.UnixConn)}
}

// do sends req on the socket and returns its reply and any descriptors
// that came with it.
func (r *rawClient) do(t *testing.T, req *ipc.Request) (*ipc.Reply, []int) {
	t.Helper()
	r.seq++
	req.Seq = r.seq
	b, err := ipc.AppendRequest(nil, req, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*8))
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, oobn, _, _, err := r.c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if f, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	rep, err := ipc.ParseReply(buf[:n], ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return rep, fds
}

func (r *rawClient) connectCrypto(t *testing.T) uint64 {
	t.Helper()
	rep, _ := r.do(t, &ipc.Request{Kind: ipc.KindConnect, SID: psa.CryptoSID, Version: psa.CryptoVersion})
	if rep.Status != ipc.Success {
		t.Fatalf("connect: %v", rep.Status)
	}
	return rep.Handle
}

// askLane asks for a direct lane for handle; nil when refused (status).
func (r *rawClient) askLane(t *testing.T, handle uint64) (*shmring.Region, ipc.Status) {
	t.Helper()
	rep, fds := r.do(t, &ipc.Request{Kind: ipc.KindDirectLane, Handle: handle})
	if rep.Status != ipc.Success {
		if len(fds) != 0 {
			t.Errorf("refusal %v came with %d descriptors", rep.Status, len(fds))
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, rep.Status
	}
	region, err := shmring.Open(fds, 1, int(rep.Slot))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { region.Close() })
	return region, rep.Status
}

// laneCall makes a generate_random call on a direct lane and returns the
// reply (a 30 s deadline: a lane nobody serves fails the test).
func laneCall(t *testing.T, region *shmring.Region, handle uint64, last *uint32) *ipc.Reply {
	t.Helper()
	return laneRequest(t, region, &ipc.Request{Kind: ipc.KindCall, Seq: 99, Handle: handle,
		Type: int32(psa.OpGenerateRandom), OutSize: []uint32{16}}, last)
}

// laneRequest sends req on a direct lane and returns the reply (a 30 s
// deadline: a lane nobody serves fails the test).
func laneRequest(t *testing.T, region *shmring.Region, req *ipc.Request, last *uint32) *ipc.Reply {
	t.Helper()
	lane := region.Lanes()[0]
	b, err := ipc.AppendRequest(nil, req, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lane.Req.Put(b); err != nil {
		t.Fatal(err)
	}
	var in []byte
	*last, in, err = lane.Rep.Take(*last, nil, shmring.NewWaiter(0), nil, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatalf("no reply on the direct lane: %v", err)
	}
	rep, err := ipc.ParseReply(in, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitState waits (up to 30 s) for the lane's state word to become want.
func waitState(t *testing.T, region *shmring.Region, want uint32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for region.Lanes()[0].State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("lane state %d, want %d", region.Lanes()[0].State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDirectLaneCallsAsItsClient: calls on a direct lane run as the client
// the SPM bound to the lane when it granted it, whatever the lane's
// frames say: client A's persistent key, made over A's lane, cannot sign
// over client B's. A handle of another connection gets no lane, a call
// naming another handle on a lane is refused, and the lanes carry the
// calls (not the SPM's path).
func TestDirectLaneCallsAsItsClient(t *testing.T) {
	e := startLevel3Clients(t)
	connA, err := ipc.Dial(e.sock) // client -1
	if err != nil {
		t.Fatal(err)
	}
	defer connA.Close()
	a, err := psaclient.NewClient(connA)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Lifetime: psa.LifetimePersistent, ID: 0x4242, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("direct"))
	if _, err := a.SignHash(key, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err != nil {
		t.Fatal(err)
	}
	if connA.DirectCalls() < 2 || e.srv.DirectLanes() != 1 {
		t.Fatalf("direct calls %d, lanes %d: the calls did not take a direct lane", connA.DirectCalls(), e.srv.DirectLanes())
	}

	connB, err := ipc.Dial(e.sock) // client -2
	if err != nil {
		t.Fatal(err)
	}
	defer connB.Close()
	b, err := psaclient.NewClient(connB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignHash(key, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err == nil {
		t.Fatal("client B signed with client A's key over its direct lane")
	}
	if connB.DirectCalls() != 1 {
		t.Fatalf("client B's call: %d direct calls, want 1", connB.DirectCalls())
	}

	// A raw client C asks for a lane for its own handle and for another
	// connection's (a handle value is only meaningful on its connection).
	rawA, rawC := dialRaw(t, e.sock), dialRaw(t, e.sock)
	hA, hC := rawA.connectCrypto(t), rawC.connectCrypto(t)
	if _, st := rawC.askLane(t, hA); st != ipc.ErrProgrammerError {
		t.Fatalf("a lane for another connection's handle: %v, want PROGRAMMER_ERROR", st)
	}
	region, _ := rawC.askLane(t, hC)
	if region == nil {
		t.Fatal("no lane for the connection's own handle")
	}
	var last uint32
	if rep := laneCall(t, region, hC, &last); rep.Status != ipc.Success || len(rep.Out) != 1 || len(rep.Out[0]) != 16 {
		t.Fatalf("call on the lane: %v %d outputs", rep.Status, len(rep.Out))
	}
	if rep := laneCall(t, region, hA, &last); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("call naming another handle on the lane: %v, want PROGRAMMER_ERROR", rep.Status)
	}
}

// TestDirectLaneRevoked: the SPM revokes a direct lane when its service is
// retired (decommissioning), when tracing starts and when its handle is
// closed; the partition process
// stops serving it (the lane's state says so even to a client that
// ignores the word), calls take the SPM's path again (retired: BAD_STATE;
// tracing: recorded), no lane is granted for a retired service, and a lane
// of a process that ends is marked dead.
func TestDirectLaneRevoked(t *testing.T) {
	t.Run("tracing", func(t *testing.T) {
		e := startLevel3Clients(t)
		conn, c := e.directCryptoClient(t)
		raw := dialRaw(t, e.sock)
		h := raw.connectCrypto(t)
		region, _ := raw.askLane(t, h)
		e.srv.StartTrace(0)
		defer e.srv.StopTrace()
		waitState(t, region, 1) // drained by the partition process
		if _, err := c.GenerateRandom(16); err != nil {
			t.Fatal(err)
		}
		if conn.DirectCalls() != 1 {
			t.Fatalf("%d direct calls while tracing", conn.DirectCalls())
		}
		evs, _, _ := e.srv.Trace(0, 100)
		if len(evs) != 1 || evs[0].Partition != cryptoPartition || !evs[0].Served {
			t.Fatalf("trace after the lane was revoked: %+v", evs)
		}
		if _, st := raw.askLane(t, h); st != ipc.ErrNotSupported {
			t.Fatalf("a lane while tracing: %v, want NOT_SUPPORTED", st)
		}
	})
	t.Run("retired", func(t *testing.T) {
		e := startLevel3Clients(t)
		_, c := e.directCryptoClient(t)
		raw := dialRaw(t, e.sock)
		h := raw.connectCrypto(t)
		region, _ := raw.askLane(t, h)
		e.srv.Retire(cryptoPartition)
		waitState(t, region, 1)
		if _, err := c.GenerateRandom(16); !errors.Is(err, ipc.ErrBadState) {
			t.Fatalf("a call on a retired service's handle: %v, want BAD_STATE", err)
		}
		if _, st := raw.askLane(t, h); st != ipc.ErrBadState {
			t.Fatalf("a lane to a retired service: %v, want BAD_STATE", st)
		}
	})
	t.Run("handle closed", func(t *testing.T) {
		e := startLevel3Clients(t)
		raw := dialRaw(t, e.sock)
		h := raw.connectCrypto(t)
		region, _ := raw.askLane(t, h)
		var last uint32
		if rep := laneCall(t, region, h, &last); rep.Status != ipc.Success {
			t.Fatal(rep.Status)
		}
		if rep, _ := raw.do(t, &ipc.Request{Kind: ipc.KindClose, Handle: h}); rep.Status != ipc.Success {
			t.Fatal(rep.Status)
		}
		waitState(t, region, 1) // a closed handle is served on no lane
	})
	t.Run("process ended", func(t *testing.T) {
		e := startLevel3Clients(t)
		raw := dialRaw(t, e.sock)
		h := raw.connectCrypto(t)
		region, _ := raw.askLane(t, h)
		var last uint32
		if rep := laneCall(t, region, h, &last); rep.Status != ipc.Success {
			t.Fatal(rep.Status)
		}
		if err := e.remote(t, "prot:crypto").Kill(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitState(t, region, 2)
	})
}

// TestDirectLanesBounded: a partition process serves at most
// MaxDirectLanes direct lanes (each costs it a goroutine, a mapping and
// descriptors): past it a client is refused one and its calls take the
// SPM's path; a session's end frees its lanes.
func TestDirectLanesBounded(t *testing.T) {
	e := startLevel3Clients(t, func(o *spe.Options) { o.MaxDirectLanes = 2 })
	first, second := dialRaw(t, e.sock), dialRaw(t, e.sock)
	for range 2 {
		if region, st := first.askLane(t, first.connectCrypto(t)); region == nil {
			t.Fatalf("a lane within the bound: %v", st)
		}
	}
	h := second.connectCrypto(t)
	if _, st := second.askLane(t, h); st != ipc.ErrNotSupported {
		t.Fatalf("a lane past the bound: %v, want NOT_SUPPORTED", st)
	}
	first.c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for e.srv.DirectLanes() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d lanes left after their session ended", e.srv.DirectLanes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if region, st := second.askLane(t, h); region == nil {
		t.Fatalf("a lane once the others' session ended: %v", st)
	}
}
