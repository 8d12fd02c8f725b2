package spe_test

import (
	"sync/atomic"
	"testing"

	"rampart/ipc"
	"rampart/spe"
)

// secretHolder is a service keeping a secret in memory, as the crypto
// service does, and checking that it is never wiped under a running call.
type secretHolder struct {
	secret    []byte
	inCall    atomic.Int32
	shutdowns atomic.Int32
	underCall atomic.Bool // Shutdown ran while a call was in progress
	entered   chan struct{}
	release   chan struct{}
}

func (h *secretHolder) Call(m *spe.Message) ipc.Status {
	h.inCall.Add(1)
	defer h.inCall.Add(-1)
	if m.Type == 2 {
		h.entered <- struct{}{}
		<-h.release
	}
	return m.Write(0, h.secret)
}

func (h *secretHolder) Shutdown() {
	if h.inCall.Load() != 0 {
		h.underCall.Store(true)
	}
	clear(h.secret)
	h.shutdowns.Add(1)
}

// TestRetire: a retired partition's SIDs disappear (connect, stateless and
// version behave as for an unknown SID), a handle opened before answers
// BAD_STATE, Shutdown runs after the calls in progress finished, and the
// other partitions keep serving.
func TestRetire(t *testing.T) {
	ts := startServer(t, spe.Options{})
	h := &secretHolder{secret: []byte("key material"), entered: make(chan struct{}), release: make(chan struct{})}
	const sid = 0x2000
	m := spe.PartitionManifest{FrameworkVersion: "1.1", Name: "HOLDER", Type: spe.PSARoT, Services: []spe.ServiceManifest{
		{Name: "HOLDER", SID: sid, Version: 1, ConnectionBased: true, Stateless: true, NonSecureClients: true},
	}}
	if err := ts.srv.Register(m, map[string]spe.Handler{"HOLDER": h}); err != nil {
		t.Fatal(err)
	}
	old := ts.dial(t)
	hd, st := connect(t, old, sid, 1)
	if st != ipc.Success {
		t.Fatal(st)
	}
	if rep := rt(t, old, &ipc.Request{Kind: ipc.KindCall, Handle: hd, Type: 1, OutSize: []uint32{64}}); rep.Status != ipc.Success || string(rep.Out[0]) != "key material" {
		t.Fatalf("before: %v %q", rep.Status, rep.Out)
	}
	// A call in progress when Retire starts.
	slow := ts.dial(t)
	slowDone := make(chan *ipc.Reply)
	go func() {
		rep, _ := slow.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: 1, Type: 2, OutSize: []uint32{64}})
		slowDone <- rep
	}()
	<-h.entered
	retired := make(chan struct{})
	go func() { ts.srv.Retire("HOLDER", "NO_SUCH_PARTITION"); close(retired) }()
	close(h.release)
	if rep := <-slowDone; rep == nil || rep.Status != ipc.Success || string(rep.Out[0]) != "key material" {
		t.Fatalf("the call in progress: %+v", rep)
	}
	<-retired
	if h.underCall.Load() || h.shutdowns.Load() != 1 {
		t.Fatalf("shutdown under a call %v, %d shutdowns", h.underCall.Load(), h.shutdowns.Load())
	}
	if rep := rt(t, old, &ipc.Request{Kind: ipc.KindCall, Handle: hd, Type: 1, OutSize: []uint32{64}}); rep.Status != ipc.ErrBadState || len(rep.Out[0]) != 0 {
		t.Fatalf("old handle after retire: %v %q", rep.Status, rep.Out)
	}
	fresh := ts.dial(t)
	if _, st := connect(t, fresh, sid, 1); st != ipc.ErrConnectionRefused {
		t.Fatalf("connect after retire: %v", st)
	}
	if rep := rt(t, fresh, &ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: 1, Type: 1, OutSize: []uint32{64}}); rep.Status != ipc.ErrConnectionRefused {
		t.Fatalf("stateless after retire: %v", rep.Status)
	}
	if rep := rt(t, fresh, &ipc.Request{Kind: ipc.KindVersion, SID: sid}); rep.Version != 0 {
		t.Fatalf("version after retire: %d", rep.Version)
	}
	if rep := rt(t, fresh, &ipc.Request{Kind: ipc.KindStateless, SID: echoSID, Version: 1, Type: 1, In: [][]byte{[]byte("x")}, OutSize: []uint32{8}}); rep.Status != ipc.Success {
		t.Fatalf("another partition after retire: %v", rep.Status)
	}
	for _, s := range ts.srv.Stats().Services {
		if s.Partition == "HOLDER" {
			t.Fatal("status still lists the retired partition")
		}
	}
	if err := ts.srv.Register(m, map[string]spe.Handler{"HOLDER": h}); err != nil {
		t.Fatalf("the retired partition's name and SID are free again: %v", err)
	}
}
