package spe_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
	"rampart/spe"
)

func echoCall(t *testing.T, c *ipc.Conn, h uint64, msg []byte) {
	t.Helper()
	rep := rt(t, c, &ipc.Request{Kind: ipc.KindCall, Handle: h, In: [][]byte{msg}, OutSize: []uint32{uint32(len(msg))}})
	if rep.Status != ipc.Success || !bytes.Equal(rep.Out[0], msg) {
		t.Fatalf("echo of %d bytes: %v, %d bytes back", len(msg), rep.Status, len(rep.Out[0]))
	}
}

// A client gets a lane unless it or the SPE says no; small calls take the
// lane, calls too large for a slot the socket, and handles opened on one
// are good on the other (one session).
func TestSharedMemoryLane(t *testing.T) {
	ts := startServer(t, spe.Options{})
	c := ts.dial(t)
	if !c.SharedMemory() {
		t.Fatal("no shared-memory lane")
	}
	h, st := connect(t, c, echoSID, 1)
	if st != ipc.Success {
		t.Fatal(st)
	}
	for i := range 50 {
		echoCall(t, c, h, bytes.Repeat([]byte{byte(i)}, 1+i*37))
	}
	echoCall(t, c, h, bytes.Repeat([]byte{7}, 200<<10)) // over the socket
	echoCall(t, c, h, []byte("lane again"))

	sock, err := ipc.DialWith(ts.sock, ipc.DialOptions{Socket: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if sock.SharedMemory() {
		t.Fatal("DialOptions.Socket got a lane")
	}
	h2, _ := connect(t, sock, echoSID, 1)
	echoCall(t, sock, h2, []byte("socket"))

	off := startServer(t, spe.Options{NoSharedMemory: true})
	c3 := off.dial(t)
	if c3.SharedMemory() {
		t.Fatal("an SPE with NoSharedMemory gave a lane")
	}
	h3, _ := connect(t, c3, echoSID, 1)
	echoCall(t, c3, h3, []byte("fallback"))
}

// hostileLane does the handshake by hand and maps the region the SPE sent.
func hostileLane(t *testing.T, sock string) (*net.UnixConn, *shmring.Lane) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	uc := c.(*net.UnixConn)
	t.Cleanup(func() { uc.Close() })
	if _, err := uc.Write(frame(t, &ipc.Request{Kind: ipc.KindSharedMemory, Seq: 1})); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ipc.ParseReply(buf[:n], ipc.Limits{})
	if err != nil || rep.Status != ipc.Success {
		t.Fatal(rep, err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := shmring.Open(fds, 1, int(rep.Slot))
	if err != nil {
		t.Fatal(err)
	}
	// A second lane on one session is refused.
	if _, err := uc.Write(frame(t, &ipc.Request{Kind: ipc.KindSharedMemory, Seq: 2})); err != nil {
		t.Fatal(err)
	}
	n, _ = uc.Read(buf)
	if rep, err := ipc.ParseReply(buf[:n], ipc.Limits{}); err != nil || rep.Status != ipc.ErrNotSupported {
		t.Fatalf("second lane: %v %v", rep, err)
	}
	t.Cleanup(func() { r.Close() })
	return uc, r.Lanes()[0]
}

// A client that writes garbage into its lane, floods it without reading
// the replies, or hangs up gets error frames and loses its session; the
// SPE keeps serving everyone else meanwhile.
func TestHostileLane(t *testing.T) {
	ts := startServer(t, spe.Options{})
	uc, lane := hostileLane(t, ts.sock)
	w := shmring.NewWaiter(0)
	var last uint32
	take := func() *ipc.Reply {
		t.Helper()
		var b []byte
		var err error
		last, b, err = lane.Rep.Take(last, nil, w, nil, time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ipc.ParseReply(b, ipc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	for _, garbage := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 5000), {12, 0, 0, 0, 1, 3, 0, 0, 9, 0, 0, 0, 1}} {
		lane.Req.Put(garbage)
		if rep := take(); rep.Kind != ipc.KindError || rep.Status != ipc.ErrProgrammerError {
			t.Fatalf("garbage of %d bytes: %v %v", len(garbage), rep.Kind, rep.Status)
		}
	}
	lane.Req.Put(frame(t, &ipc.Request{Kind: ipc.KindStateless, Seq: 10, SID: echoSID, Version: 1, In: [][]byte{[]byte("ok")}, OutSize: []uint32{2}}))
	if rep := take(); rep.Status != ipc.Success || string(rep.Out[0]) != "ok" {
		t.Fatalf("a good request after garbage: %v %v", rep.Kind, rep.Status)
	}
	// Flood without reading: the SPE never waits for this client.
	for i := range 5000 {
		lane.Req.Put(frame(t, &ipc.Request{Kind: ipc.KindVersion, Seq: uint32(i), SID: echoSID}))
	}
	other := ts.dial(t)
	h, _ := connect(t, other, echoSID, 1)
	echoCall(t, other, h, []byte("still served"))
	uc.Close()
	waitFor(t, "the hostile session to end", func() bool { return ts.srv.Stats().Sessions == 1 })
	echoCall(t, other, h, []byte("after the hang-up"))
}
