package spe_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/spe"
)

const (
	echoSID       = 0x1000
	blockSID      = 0x1001
	restrictedSID = 0x1002
	relaxedSID    = 0x1003
	panicSID      = 0x1004
	secureSID     = 0x1005
)

type testServer struct {
	srv     *spe.Server
	sock    string
	release chan struct{}
	entered chan struct{}
}

func testManifest() spe.PartitionManifest {
	return spe.PartitionManifest{FrameworkVersion: "1.1", Name: "TEST", Type: spe.ApplicationRoT, Services: []spe.ServiceManifest{
		{Name: "ECHO", SID: echoSID, Version: 1, ConnectionBased: true, Stateless: true, NonSecureClients: true},
		{Name: "BLOCK", SID: blockSID, Version: 1, Stateless: true, NonSecureClients: true},
		{Name: "RESTRICTED", SID: restrictedSID, Version: 1, ConnectionBased: true, NonSecureClients: true, Clients: []int32{-5}},
		{Name: "RELAXED", SID: relaxedSID, Version: 3, VersionPolicy: spe.Relaxed, ConnectionBased: true, NonSecureClients: true},
		{Name: "PANIC", SID: panicSID, Version: 1, Stateless: true, NonSecureClients: true},
		{Name: "SECURE_ONLY", SID: secureSID, Version: 1, Stateless: true},
	}}
}

func startServer(t testing.TB, opt spe.Options) *testServer {
	t.Helper()
	ts := &testServer{release: make(chan struct{}), entered: make(chan struct{}, 16)}
	if opt.Identify == nil {
		opt.Identify = func(int, int) (int32, error) { return -1, nil }
	}
	ts.srv = spe.New(opt)
	echo := spe.HandlerFunc(func(m *spe.Message) ipc.Status {
		if m.NumIn() > 0 && len(m.OutSize) > 0 {
			return m.Write(0, m.InVec(0))
		}
		return ipc.Success
	})
	err := ts.srv.Register(testManifest(), map[string]spe.Handler{
		"ECHO": echo, "RESTRICTED": echo, "RELAXED": echo, "SECURE_ONLY": echo,
		"BLOCK": spe.HandlerFunc(func(m *spe.Message) ipc.Status {
			ts.entered <- struct{}{}
			<-ts.release
			return m.Write(0, []byte("late reply"))
		}),
		"PANIC": spe.HandlerFunc(func(m *spe.Message) ipc.Status { panic("service bug") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.RegisterStatus(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "spe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ts.sock = filepath.Join(dir, "run", "spe.sock")
	if err := ts.srv.Listen(ts.sock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve() }()
	t.Cleanup(func() {
		select {
		case <-ts.release:
		default:
			close(ts.release)
		}
		ts.srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ts
}

func (ts *testServer) dial(t testing.TB) *ipc.Conn {
	t.Helper()
	c, err := ipc.Dial(ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func rt(t testing.TB, c ipc.Transport, req *ipc.Request) *ipc.Reply {
	t.Helper()
	rep, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("%v: %v", req.Kind, err)
	}
	return rep
}

func connect(t testing.TB, c ipc.Transport, sid, version uint32) (uint64, ipc.Status) {
	rep := rt(t, c, &ipc.Request{Kind: ipc.KindConnect, SID: sid, Version: version})
	return rep.Handle, rep.Status
}

func TestSocketModes(t *testing.T) {
	ts := startServer(t, spe.Options{})
	fi, err := os.Stat(ts.sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	di, err := os.Stat(filepath.Dir(ts.sock))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory mode %v %v", di.Mode(), err)
	}
	open := t.TempDir()
	os.Chmod(open, 0o755)
	if err := spe.New(spe.Options{}).Listen(filepath.Join(open, "spe.sock")); err == nil {
		t.Fatal("listened in a directory others can enter")
	}
}

func TestConnectCallCloseAndHandles(t *testing.T) {
	ts := startServer(t, spe.Options{})
	c := ts.dial(t)
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindVersion, SID: echoSID}); rep.Version != 1 {
		t.Fatalf("version %d", rep.Version)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindVersion, SID: 0xdead}); rep.Version != 0 {
		t.Fatalf("version of an unknown SID: %d, want PSA_VERSION_NONE", rep.Version)
	}
	h, st := connect(t, c, echoSID, 1)
	if st != ipc.Success || h == 0 || h>>63 != 0 {
		t.Fatalf("connect: %x %v", h, st)
	}
	rep := rt(t, c, &ipc.Request{Kind: ipc.KindCall, Handle: h, Type: 1, In: [][]byte{[]byte("ping")}, OutSize: []uint32{16}})
	if rep.Status != ipc.Success || string(rep.Out[0]) != "ping" {
		t.Fatalf("call: %v %q", rep.Status, rep.Out)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindCall, Handle: h, In: [][]byte{[]byte("ping")}, OutSize: []uint32{2}}); rep.Status != ipc.ErrBufferTooSmall || len(rep.Out) != 1 || len(rep.Out[0]) != 0 {
		t.Fatalf("small output buffer: %v %q", rep.Status, rep.Out)
	}
	// A handle of another connection, a forged one and a closed one are all refused.
	other := ts.dial(t)
	if rep := rt(t, other, &ipc.Request{Kind: ipc.KindCall, Handle: h}); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("foreign handle: %v", rep.Status)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindCall, Handle: h ^ 1}); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("forged handle: %v", rep.Status)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindClose, Handle: h}); rep.Status != ipc.Success {
		t.Fatalf("close: %v", rep.Status)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindCall, Handle: h}); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("stale handle: %v", rep.Status)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindClose, Handle: h}); rep.Status != ipc.ErrProgrammerError {
		t.Fatalf("double close: %v", rep.Status)
	}
	// Connection-less services refuse connect; connection-only ones refuse stateless calls.
	if _, st := connect(t, c, blockSID, 1); st != ipc.ErrConnectionRefused {
		t.Fatalf("connect to a stateless-only service: %v", st)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindStateless, SID: relaxedSID, Version: 1}); rep.Status != ipc.ErrConnectionRefused {
		t.Fatalf("stateless call to a connection-only service: %v", rep.Status)
	}
}

func TestVersionPolicyAndAccessControl(t *testing.T) {
	ts := startServer(t, spe.Options{})
	c := ts.dial(t)
	for _, tc := range []struct {
		sid, version uint32
		want         ipc.Status
	}{
		{echoSID, 1, ipc.Success}, {echoSID, 2, ipc.ErrConnectionRefused}, {echoSID, 0, ipc.ErrConnectionRefused},
		{relaxedSID, 1, ipc.Success}, {relaxedSID, 3, ipc.Success}, {relaxedSID, 4, ipc.ErrConnectionRefused},
		{restrictedSID, 1, ipc.ErrConnectionRefused}, {0xdead, 1, ipc.ErrConnectionRefused},
	} {
		if _, st := connect(t, c, tc.sid, tc.version); st != tc.want {
			t.Errorf("connect(0x%x, %d): %v, want %v", tc.sid, tc.version, st, tc.want)
		}
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindStateless, SID: secureSID, Version: 1}); rep.Status != ipc.ErrConnectionRefused {
		t.Errorf("non-secure client reached a secure-only service: %v", rep.Status)
	}
	if rep := rt(t, c, &ipc.Request{Kind: ipc.KindVersion, SID: restrictedSID}); rep.Version != 0 {
		t.Errorf("psa_version reveals a service the client may not use: %d", rep.Version)
	}
	// The same services in process, as the allowed client -5 and a secure partition.
	l, err := ts.srv.Local(-5)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, st := connect(t, l, restrictedSID, 1); st != ipc.Success {
		t.Errorf("client -5 refused by its own service: %v", st)
	}
	sec, _ := ts.srv.Local(7)
	defer sec.Close()
	if rep := rt(t, sec, &ipc.Request{Kind: ipc.KindStateless, SID: secureSID, Version: 1}); rep.Status != ipc.Success {
		t.Errorf("secure client 7: %v", rep.Status)
	}
}

// rawConn writes arbitrary bytes and reads frames back.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, sock string) *rawConn {
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(t *testing.T, b []byte) (*ipc.Reply, error) {
	t.Helper()
	if _, err := r.c.Write(b); err != nil {
		return nil, err
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ipc.ReadFrame(r.br, nil, ipc.Limits{})
	if err != nil {
		return nil, err
	}
	return ipc.ParseReply(f, ipc.Limits{})
}

func frame(t *testing.T, req *ipc.Request) []byte {
	b, err := ipc.AppendRequest(nil, req, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostileFramesWhileOthersAreServed(t *testing.T) {
	ts := startServer(t, spe.Options{})
	// A well-behaved client keeps calling during the whole attack.
	stop := make(chan struct{})
	started := make(chan struct{})
	var good sync.WaitGroup
	var goodCalls, goodFailures atomic.Int64
	good.Add(1)
	go func() {
		defer good.Done()
		c, err := ipc.Dial(ts.sock)
		if err != nil {
			goodFailures.Add(1)
			close(started)
			return
		}
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: echoSID, Version: 1, In: [][]byte{[]byte("ok")}, OutSize: []uint32{2}})
			if err != nil || rep.Status != ipc.Success || string(rep.Out[0]) != "ok" {
				goodFailures.Add(1)
				if goodCalls.Load() == 0 {
					close(started)
				}
				return
			}
			if goodCalls.Add(1) == 1 {
				close(started)
			}
		}
	}()
	<-started

	call := frame(t, &ipc.Request{Kind: ipc.KindStateless, Seq: 9, SID: echoSID, Version: 1, In: [][]byte{[]byte("x")}, OutSize: []uint32{1}})
	mut := func(off int, v ...byte) []byte {
		b := append([]byte(nil), call...)
		copy(b[off:], v)
		return b
	}
	// Frames with a sound length prefix get an error reply and the
	// connection stays usable.
	r := dialRaw(t, ts.sock)
	for name, b := range map[string][]byte{
		"bad version":        mut(4, 9),
		"unknown kind":       mut(5, 0x7e),
		"reply kind":         mut(5, 0x85),
		"huge vector count":  mut(24, 0xff, 0xff),
		"in_len beyond body": mut(28, 0xff, 0xff, 0, 0),
		"negative type":      mut(20, 0, 0, 0, 0x80),
		"truncated body":     append(binary.LittleEndian.AppendUint32(nil, 20), call[4:12]...),
	} {
		if name == "truncated body" {
			// announce 20 bytes, send 8, then complete it with zeros
			b = append(b, make([]byte, 12)...)
		}
		rep, err := r.send(t, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Kind != ipc.KindError || rep.Status != ipc.ErrProgrammerError {
			t.Errorf("%s: reply %v %v", name, rep.Kind, rep.Status)
		}
	}
	for name, req := range map[string]*ipc.Request{
		"unknown SID":   {Kind: ipc.KindStateless, SID: 0xbad, Version: 1},
		"wrong version": {Kind: ipc.KindStateless, SID: echoSID, Version: 9},
		"stale handle":  {Kind: ipc.KindCall, Handle: 12345},
		"panic":         {Kind: ipc.KindStateless, SID: panicSID, Version: 1},
	} {
		rep, err := r.send(t, frame(t, req))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Status == ipc.Success {
			t.Errorf("%s: accepted", name)
		}
	}
	if rep, err := r.send(t, call); err != nil || rep.Status != ipc.Success || string(rep.Out[0]) != "x" {
		t.Fatalf("connection unusable after hostile frames: %v %v", rep, err)
	}
	// A hostile length prefix cannot be skipped: error reply, then hang-up.
	for _, b := range [][]byte{{0xff, 0xff, 0xff, 0x7f}, {1, 0, 0, 0}} {
		r := dialRaw(t, ts.sock)
		rep, err := r.send(t, append(b, make([]byte, 16)...))
		if err != nil || rep.Kind != ipc.KindError {
			t.Fatalf("bad length prefix %x: %v %v", b, rep, err)
		}
		if _, err := r.send(t, call); err == nil {
			t.Fatalf("connection still open after a bad length prefix")
		}
	}
	// The well-behaved client is still being answered after the attack.
	after := goodCalls.Load()
	waitFor(t, "the well-behaved client to be served after the attack", func() bool {
		return goodCalls.Load() > after+10 || goodFailures.Load() != 0
	})
	close(stop)
	good.Wait()
	if goodFailures.Load() != 0 {
		t.Fatalf("well-behaved client: %d calls, %d failures", goodCalls.Load(), goodFailures.Load())
	}
}

func TestClientDyingMidCallLeavesNothing(t *testing.T) {
	ts := startServer(t, spe.Options{})
	base := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		c, err := ipc.Dial(ts.sock)
		if err != nil {
			t.Fatal(err)
		}
		if _, st := connect(t, c, echoSID, 1); st != ipc.Success {
			t.Fatal(st)
		}
		// Start a call that blocks in the service, then die.
		go c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: blockSID, Version: 1, OutSize: []uint32{64}})
		<-ts.entered
		c.Close()
	}
	// Half a frame, then gone.
	raw, _ := net.Dial("unix", ts.sock)
	raw.Write(frame(t, &ipc.Request{Kind: ipc.KindConnect, SID: echoSID, Version: 1})[:7])
	raw.Close()
	if st := ts.srv.Stats(); st.Sessions == 0 {
		t.Fatal("sessions vanished before the blocked calls returned")
	}
	close(ts.release)
	waitFor(t, "sessions and handles to be freed", func() bool {
		st := ts.srv.Stats()
		return st.Sessions == 0 && st.Handles == 0
	})
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
}

func TestUnknownPeerAndSessionLimit(t *testing.T) {
	ts := startServer(t, spe.Options{Identify: func(uid, pid int) (int32, error) { return 0, errors.New("no rule") }})
	r := dialRaw(t, ts.sock)
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ipc.ReadFrame(r.br, nil, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := ipc.ParseReply(f, ipc.Limits{}); rep == nil || rep.Status != ipc.ErrConnectionRefused {
		t.Fatalf("unknown peer: %v", rep)
	}
	// The client library reports the refusal as a status, not a protocol error.
	c0, err := ipc.Dial(ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if rep, err := c0.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: echoSID, Version: 1}); err != nil || rep.Kind != ipc.KindError || rep.Status != ipc.ErrConnectionRefused {
		t.Fatalf("refused peer through ipc.Conn: %v %v", rep, err)
	}

	ts3 := startServer(t, spe.Options{MaxSessionsPerClient: 2})
	for i := 0; i < 2; i++ {
		rt(t, ts3.dial(t), &ipc.Request{Kind: ipc.KindVersion, SID: echoSID})
	}
	r3 := dialRaw(t, ts3.sock)
	r3.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := ipc.ReadFrame(r3.br, nil, ipc.Limits{}); err != nil {
		t.Fatal(err)
	} else if rep, _ := ipc.ParseReply(f, ipc.Limits{}); rep == nil || rep.Status != ipc.ErrConnectionBusy {
		t.Fatalf("over the per-client session limit: %v", rep)
	}
	if l, err := ts3.srv.Local(-9); err != nil {
		t.Fatalf("another client blocked by client -1's sessions: %v", err)
	} else {
		l.Close()
	}

	ts2 := startServer(t, spe.Options{MaxSessions: 1})
	c := ts2.dial(t)
	rt(t, c, &ipc.Request{Kind: ipc.KindVersion, SID: echoSID})
	r2 := dialRaw(t, ts2.sock)
	r2.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err = ipc.ReadFrame(r2.br, nil, ipc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := ipc.ParseReply(f, ipc.Limits{}); rep == nil || rep.Status != ipc.ErrConnectionBusy {
		t.Fatalf("over the session limit: %v", rep)
	}
}

func TestStatusService(t *testing.T) {
	ts := startServer(t, spe.Options{})
	c := ts.dial(t)
	rep := rt(t, c, &ipc.Request{Kind: ipc.KindStateless, SID: spe.StatusSID, Version: 1, OutSize: []uint32{1 << 16}})
	var st spe.Stats
	if rep.Status != ipc.Success || json.Unmarshal(rep.Out[0], &st) != nil {
		t.Fatalf("status: %v", rep.Status)
	}
	if st.Sessions != 1 || len(st.Services) != 7 {
		t.Fatalf("status %+v", st)
	}
}

func TestManifests(t *testing.T) {
	good := testManifest()
	b, _ := json.Marshal(good)
	m, err := spe.ParseManifest(b)
	if err != nil || m.Name != "TEST" || len(m.Services) != 6 {
		t.Fatalf("round trip: %v", err)
	}
	for i := 0; i < len(b); i++ {
		if _, err := spe.ParseManifest(b[:i]); err == nil {
			t.Fatalf("manifest prefix of %d bytes accepted", i)
		}
	}
	for name, mut := range map[string]func(*spe.PartitionManifest){
		"no name":          func(m *spe.PartitionManifest) { m.Name = "" },
		"bad type":         func(m *spe.PartitionManifest) { m.Type = "ROOT" },
		"no services":      func(m *spe.PartitionManifest) { m.Services = nil },
		"sid 0":            func(m *spe.PartitionManifest) { m.Services[0].SID = 0 },
		"duplicate sid":    func(m *spe.PartitionManifest) { m.Services[1].SID = m.Services[0].SID },
		"version 0":        func(m *spe.PartitionManifest) { m.Services[0].Version = 0 },
		"bad policy":       func(m *spe.PartitionManifest) { m.Services[0].VersionPolicy = "LOOSE" },
		"no call model":    func(m *spe.PartitionManifest) { m.Services[0].ConnectionBased, m.Services[0].Stateless = false, false },
		"client 0 allowed": func(m *spe.PartitionManifest) { m.Services[0].Clients = []int32{0} },
	} {
		m := testManifest()
		m.Services = append([]spe.ServiceManifest(nil), m.Services...)
		mut(&m)
		if err := m.Validate(); !errors.Is(err, spe.ErrManifest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ts := startServer(t, spe.Options{})
	dup := spe.PartitionManifest{Name: "OTHER", Type: spe.PSARoT, Services: []spe.ServiceManifest{{Name: "X", SID: echoSID, Version: 1, Stateless: true}}}
	if err := ts.srv.Register(dup, map[string]spe.Handler{"X": spe.HandlerFunc(nil)}); err == nil || !strings.Contains(err.Error(), "already served") {
		t.Errorf("duplicate SID across partitions: %v", err)
	}
	dup.Services[0].SID = 0x2000
	if err := ts.srv.Register(dup, map[string]spe.Handler{}); err == nil {
		t.Error("service without a handler registered")
	}
}

func TestConfig(t *testing.T) {
	good := `{
  "socket": "/run/rampart/spe.sock",
  "state_dir": "/var/lib/rampart/spe",
  "clients": [
    {"name": "agent", "uid": 1000, "client_id": -1},
    {"pid": 4242, "client_id": -2}
  ]
}`
	c, err := spe.ParseConfig("spe.json", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Identify(1000, 1); err != nil || id != -1 {
		t.Errorf("uid rule: %d %v", id, err)
	}
	if id, err := c.Identify(5, 4242); err != nil || id != -2 {
		t.Errorf("pid rule: %d %v", id, err)
	}
	if _, err := c.Identify(5, 5); err == nil {
		t.Error("unknown peer mapped")
	}
	withLimits := strings.Replace(good, `"clients"`, `"limits": {"sessions_per_client": 8, "crypto": {"volatile_keys_per_client": 16, "volatile_key_bytes_per_client": 4096},
    "its": {"max_object_size": 512, "max_objects_per_client": 10, "max_objects_per_secure_partition": 8192},
    "ps": {"max_object_size": 4096, "max_objects_per_client": 20}},
  "clients"`, 1)
	if c, err := spe.ParseConfig("spe.json", []byte(withLimits)); err != nil || c.Limits.Crypto.VolatileKeysPerClient != 16 ||
		c.Limits.ITS.MaxObjectsPerSecurePartition != 8192 || c.Limits.PS.MaxObjectsPerClient != 20 || c.Limits.SessionsPerClient != 8 {
		t.Fatalf("limits: %+v %v", c, err)
	}
	if c, err := spe.ParseConfig("spe.json", []byte(strings.Replace(good, `"clients"`, `"isolation": 3, "clients"`, 1))); err != nil || c.Level() != 3 {
		t.Fatalf("isolation 3: %v", err)
	}
	if c.Level() != 1 {
		t.Errorf("default isolation level %d, want 1", c.Level())
	}
	for i := 0; i < len(good); i++ {
		if _, err := spe.ParseConfig("spe.json", []byte(good[:i])); !errors.Is(err, spe.ErrConfig) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
	for name, tc := range map[string]struct{ text, want string }{
		"syntax":          {"{\n  \"socket\": \"x\",\n  oops\n}", "spe.json:3"},
		"unknown field":   {`{"socket": "x", "state_dir": "y", "clients": [], "color": 1}`, "color"},
		"positive client": {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": 3}]}`, "clients[0].client_id"},
		"no selector":     {`{"socket": "x", "state_dir": "y", "clients": [{"client_id": -3}]}`, "clients[0]"},
		"no socket":       {`{"state_dir": "y", "clients": [{"uid": 1, "client_id": -3}]}`, "socket"},
		"negative quota":  {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "limits": {"ps": {"max_objects_per_client": -1}}}`, "limits.ps.max_objects_per_client"},
		"huge object":     {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "limits": {"its": {"max_object_size": 2000000}}}`, "limits.its.max_object_size"},
		"isolation":       {"{\n  \"socket\": \"x\", \"state_dir\": \"y\", \"clients\": [{\"uid\": 1, \"client_id\": -3}],\n  \"isolation\": 4}", "spe.json:3:16: isolation: 4, want 1, 2 or 3"},
		"uids at level 1": {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "partition_uids": {"prot": 900}}`, "partition_uids: needs isolation 2 or 3"},
		"uid of root":     {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "isolation": 3, "partition_uids": {"prot": 0}}`, "partition_uids.prot: 0"},
		"unknown process": {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "isolation": 3, "partition_uids": {"crypto": 9}}`, `"crypto" is no partition process`},
		"PRoT group at 2": {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "isolation": 2, "partition_uids": {"prot:crypto": 9}}`, `"prot:crypto" is no partition process`},
		"unknown group":   {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "isolation": 3, "partition_uids": {"prot:nothing": 9}}`, `"prot:nothing" is no partition process`},
		"unknown limit":   {`{"socket": "x", "state_dir": "y", "clients": [{"uid": 1, "client_id": -3}], "limits": {"crypto": {"keys": 1}}}`, "keys"},
	} {
		_, err := spe.ParseConfig("spe.json", []byte(tc.text))
		if !errors.Is(err, spe.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

// TestListenGroupModes: with a socket group, the socket is 0660 and its
// directory 0750, both of that group; an existing directory a client could
// write to (and so replace the socket with its own), one others can enter,
// or one of another group is refused.
func TestListenGroupModes(t *testing.T) {
	gid := os.Getgid()
	base, err := os.MkdirTemp("", "spe-grp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	sock := filepath.Join(base, "run", "spe.sock")
	srv := spe.New(spe.Options{Identify: func(int, int) (int32, error) { return -1, nil }})
	if err := srv.ListenGroup(sock, gid); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Shutdown)
	for p, want := range map[string]os.FileMode{sock: 0o660, filepath.Dir(sock): 0o750} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != want || int(st.Gid) != gid || int(st.Uid) != os.Geteuid() {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", p, fi.Mode().Perm(), st.Uid, st.Gid, want, os.Geteuid(), gid)
		}
	}
	for name, mode := range map[string]os.FileMode{"group-writable": 0o770, "others can enter": 0o751, "others can read": 0o754} {
		dir := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, mode)
		if err := spe.New(spe.Options{}).ListenGroup(filepath.Join(dir, "spe.sock"), gid); err == nil {
			t.Errorf("%s socket directory (%v) accepted", name, mode)
		}
	}
	if os.Geteuid() == 0 {
		dir := filepath.Join(base, "other-group")
		os.Mkdir(dir, 0o750)
		os.Chown(dir, 0, gid+1)
		if err := spe.New(spe.Options{}).ListenGroup(filepath.Join(dir, "spe.sock"), gid); err == nil {
			t.Error("socket directory of another group accepted")
		}
	}
}
