package crypto

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
)

// serveShmEcho is the bare shared-memory baseline: per connection, a lane
// (memfd by SCM_RIGHTS, as the SPE hands one) whose every request is
// answered by a reply of the empty call's reply size, with the SPE's spin.
func serveShmEcho(ln net.Listener) {
	_, repLen := emptyCallFrames()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r, files, err := shmring.Create("echo", 1, shmring.DefaultSlot)
			if err != nil {
				return
			}
			defer r.Close()
			_, _, err = c.(*net.UnixConn).WriteMsgUnix([]byte{1}, unix.UnixRights(shmring.FDs(files)...), nil)
			shmring.CloseFiles(files)
			if err != nil {
				return
			}
			gone := make(chan struct{})
			go func() { c.Read(make([]byte, 1)); close(gone) }()
			stop := func() bool {
				select {
				case <-gone:
					return true
				default:
					return false
				}
			}
			lane, w, rep := r.Lanes()[0], shmring.NewWaiter(shmring.SpinFromEnv()), make([]byte, repLen)
			var last uint32
			var buf []byte
			for {
				if last, buf, err = lane.Req.Take(last, buf, w, stop, time.Time{}); err != nil {
					return
				}
				lane.Rep.Put(rep)
			}
		}()
	}
}

// shmEchoCaller sends an empty call's bytes through a lane of the echo
// helper at sock (+".shm") and waits for the reply.
func shmEchoCaller(t *testing.T, sock string) func() {
	c, err := net.Dial("unix", sock+".shm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	oob := make([]byte, unix.CmsgSpace(3*4))
	_, oobn, _, _, err := c.(*net.UnixConn).ReadMsgUnix(make([]byte, 1), oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := shmring.Open(fds, 1, shmring.DefaultSlot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	reqLen, _ := emptyCallFrames()
	lane, w, req := r.Lanes()[0], shmring.NewWaiter(shmring.SpinFromEnv()), make([]byte, reqLen)
	w.Apart = true // as ipc's client waits
	var last uint32
	var buf []byte
	return func() {
		lane.Req.Put(req)
		if last, buf, err = lane.Rep.Take(last, buf, w, nil, time.Now().Add(10*time.Second)); err != nil {
			t.Error(err)
		}
	}
}
