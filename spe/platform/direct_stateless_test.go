package platform_test

import (
	"errors"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/platform"
)

// Direct lanes for stateless calls (docs/spe-isolation.md section 1,
// "Direct lanes"): a lane per connection and stateless SID, granted after
// the checks the SPM makes on a stateless call to that SID.

const itsPartition = "RAMPART_SP_ITS"

// itsGet sends a stateless ITS get of uid on a raw direct lane.
func itsGet(t *testing.T, r *rawClient, uid psa.StorageUID, last *uint32) *ipc.Reply {
	t.Helper()
	region, st := r.askLane(t, ipc.StatelessLane(psa.ITSSID, psa.ITSVersion))
	if region == nil {
		t.Fatalf("no stateless lane to ITS: %v", st)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: uid})
	return laneRequest(t, region, &ipc.Request{Kind: ipc.KindStateless, Seq: 99, SID: psa.ITSSID, Version: psa.ITSVersion,
		Type: int32(psa.StorageOpGet), In: [][]byte{hdr}, OutSize: []uint32{64}}, last)
}

// TestStatelessLaneAnswersAsItsClient: stateless calls over a direct lane
// run as the client the SPM bound to the lane: client A's ITS entry, set
// and read over A's lane, cannot be read by client B, neither through
// psaclient (which takes B's own lane) nor through a lane B asks for by
// hand; a lane for one SID answers no other.
func TestStatelessLaneAnswersAsItsClient(t *testing.T) {
	e := startLevel3Clients(t)
	connA, err := ipc.Dial(e.sock) // client -1
	if err != nil {
		t.Fatal(err)
	}
	a := psaclient.NewITS(connA)
	defer a.Close()
	if err := a.Set(7, []byte("client A's secret"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(7, 0, 64); err != nil || string(got) != "client A's secret" {
		t.Fatalf("A's get: %q, %v", got, err)
	}
	if connA.DirectCalls() != 2 || e.srv.DirectLanes() != 1 {
		t.Fatalf("direct calls %d, lanes %d: the stateless calls did not take a direct lane", connA.DirectCalls(), e.srv.DirectLanes())
	}
	connB, err := ipc.Dial(e.sock) // client -2
	if err != nil {
		t.Fatal(err)
	}
	b := psaclient.NewITS(connB)
	defer b.Close()
	if _, err := b.Get(7, 0, 64); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("client B read client A's entry over its lane: %v", err)
	}
	if connB.DirectCalls() != 1 {
		t.Fatalf("client B's get: %d direct calls, want 1", connB.DirectCalls())
	}
	var last uint32
	rawB := dialRaw(t, e.sock) // client -3
	if rep := itsGet(t, rawB, 7, &last); rep.Status != ipc.ErrDoesNotExist {
		t.Fatalf("a raw lane read client A's entry: %v", rep.Status)
	}
	region, _ := rawB.askLane(t, ipc.StatelessLane(psa.ITSSID, psa.ITSVersion))
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: 7})
	if rep := laneRequest(t, region, &ipc.Request{Kind: ipc.KindStateless, Seq: 9, SID: psa.PSSID, Version: psa.ITSVersion,
		Type: int32(psa.StorageOpGet), In: [][]byte{hdr}, OutSize: []uint32{64}}, new(uint32)); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("a PS call on an ITS lane: %v, want PROGRAMMER_ERROR", rep.Status)
	}
}

// TestStatelessLaneRefused: no lane to a SID the caller could not call
// statelessly: one its manifest keeps from non-secure clients, one at a
// version the service does not accept, a connection-only or unknown SID.
func TestStatelessLaneRefused(t *testing.T) {
	e := startLevel3Clients(t)
	raw := dialRaw(t, e.sock)
	for name, key := range map[string]uint64{
		"secure only":   ipc.StatelessLane(psa.RootKeySID, psa.RootKeyVersion),
		"wrong version": ipc.StatelessLane(psa.ITSSID, psa.ITSVersion+1),
		"unknown":       ipc.StatelessLane(0xbad, 1),
	} {
		if region, st := raw.askLane(t, key); region != nil || st != ipc.ErrConnectionRefused {
			t.Errorf("%s: %v, want CONNECTION_REFUSED", name, st)
		}
	}
	if e.srv.DirectLanes() != 0 {
		t.Fatalf("%d lanes granted", e.srv.DirectLanes())
	}
}

// TestStatelessLaneRevoked: a stateless lane is revoked when tracing
// starts, when its service is retired, when its session ends, and marked
// dead when its process ends; calls then take the SPM's path.
func TestStatelessLaneRevoked(t *testing.T) {
	key := ipc.StatelessLane(psa.ITSSID, psa.ITSVersion)
	t.Run("tracing", func(t *testing.T) {
		e := startLevel3Clients(t)
		conn, err := ipc.Dial(e.sock)
		if err != nil {
			t.Fatal(err)
		}
		c := psaclient.NewITS(conn)
		defer c.Close()
		if _, err := c.Get(1, 0, 8); !errors.Is(err, ipc.ErrDoesNotExist) || conn.DirectCalls() != 1 {
			t.Fatalf("%v, %d direct calls", err, conn.DirectCalls())
		}
		raw := dialRaw(t, e.sock)
		region, _ := raw.askLane(t, key)
		e.srv.StartTrace(0)
		defer e.srv.StopTrace()
		waitState(t, region, 1)
		if _, err := c.Get(1, 0, 8); !errors.Is(err, ipc.ErrDoesNotExist) {
			t.Fatal(err)
		}
		if conn.DirectCalls() != 1 {
			t.Fatalf("%d direct calls while tracing", conn.DirectCalls())
		}
		evs, _, _ := e.srv.Trace(0, 100)
		if len(evs) != 1 || evs[0].Partition != itsPartition {
			t.Fatalf("trace after the lane was revoked: %+v", evs)
		}
	})
	t.Run("retired", func(t *testing.T) {
		e := startLevel3Clients(t)
		raw := dialRaw(t, e.sock)
		region, _ := raw.askLane(t, key)
		e.srv.Retire(itsPartition)
		waitState(t, region, 1)
		if _, st := raw.askLane(t, key); st != ipc.ErrConnectionRefused {
			t.Fatalf("a lane to a retired service: %v, want CONNECTION_REFUSED", st)
		}
	})
	t.Run("session ended", func(t *testing.T) {
		e := startLevel3Clients(t)
		raw := dialRaw(t, e.sock)
		region, _ := raw.askLane(t, key)
		var last uint32
		if rep := itsGet(t, raw, 1, &last); rep.Status != ipc.ErrDoesNotExist {
			t.Fatal(rep.Status)
		}
		raw.c.Close()
		waitState(t, region, 1)
	})
	t.Run("process ended", func(t *testing.T) {
		e := startLevel3Clients(t)
		raw := dialRaw(t, e.sock)
		region, _ := raw.askLane(t, key)
		if err := e.remote(t, platform.GroupITS).Kill(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitState(t, region, 2)
		// The SPM's path reaches the restarted process (which has then
		// made its files, before the test's directories are removed).
		hdr := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: 1})
		req := &ipc.Request{Kind: ipc.KindStateless, SID: psa.ITSSID, Version: psa.ITSVersion,
			Type: int32(psa.StorageOpGet), In: [][]byte{hdr}, OutSize: []uint32{8}}
		rep, _ := raw.do(t, req)
		for deadline := time.Now().Add(30 * time.Second); rep.Status == ipc.ErrServiceFailure && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // still restarting
			rep, _ = raw.do(t, req)
		}
		if rep.Status != ipc.ErrDoesNotExist {
			t.Fatalf("after the restart: %v", rep.Status)
		}
	})
}

// TestStatelessLanesBoundedPerSession: a client that asks for the same
// stateless lane again and again (each grant costs the partition process
// a goroutine and a mapping) gets at most the per-session number of
// grants; the next is refused, and the service still serves others.
func TestStatelessLanesBoundedPerSession(t *testing.T) {
	e := startLevel3Clients(t)
	raw := dialRaw(t, e.sock)
	key := ipc.StatelessLane(psa.ITSSID, psa.ITSVersion)
	granted := 0
	for range 200 {
		region, st := raw.askLane(t, key)
		if region == nil {
			if st != ipc.ErrNotSupported {
				t.Fatalf("after %d grants: refused with %v, want NOT_SUPPORTED", granted, st)
			}
			break
		}
		granted++
	}
	if granted == 0 || granted >= 200 {
		t.Fatalf("%d stateless lanes granted to one session asking 200 times: want a bound", granted)
	}
	t.Logf("one session got %d grants before the bound", granted)
	its := psaclient.NewITS(e.dial(t))
	defer its.Close()
	if err := its.Set(3, []byte("still served"), 0); err != nil {
		t.Fatalf("ITS for another client after one session hit the bound: %v", err)
	}
}
