package spe

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rampart/internal/shmring"
	"rampart/ipc"
)

// partitionSide maps the SPM's lanes as a partition process would.
func partitionSide(t *testing.T) (*lanePool, *shmring.Region) {
	t.Helper()
	r, files, _, err := createLanes()
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, fd := range shmring.FDs(files) {
		d, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, d)
	}
	shmring.CloseFiles(files)
	peer, err := shmring.Open(fds, linkLanes, shmring.DefaultSlot)
	if err != nil {
		t.Fatal(err)
	}
	p := newLanePool(r, 0)
	t.Cleanup(func() { p.close(); peer.Close() })
	return p, peer
}

// A partition that answers a lane call with garbage, with another
// session's reply, or not at all, gets an error (the SPM then kills it);
// a good answer comes back as a copy, and a call too large for a slot is
// sent to the socket.
func TestLanePoolHostilePartition(t *testing.T) {
	p, peer := partitionSide(t)
	done := make(chan struct{})
	frame := ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindStateless, Seq: 3})
	// answer plays the partition: it waits for the call on a lane and
	// answers it with reply(the call's frame).
	answer := func(peer *shmring.Region, reply func(f linkFrame) []byte) {
		for range 5000 {
			for _, l := range peer.Lanes() {
				if l.Req.Published() == 0 {
					continue
				}
				_, b, err := l.Req.Take(0, nil, shmring.NewWaiter(0), nil, time.Now().Add(time.Second))
				if err == nil {
					f, _ := parseLinkFrame(b, ipc.Limits{})
					l.Rep.Put(reply(f))
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	cases := []struct {
		name  string
		reply func(f linkFrame) []byte
		ok    bool
	}{
		{"good", func(f linkFrame) []byte { return appendLinkFrame(nil, linkReply, f.session, f.client, frame) }, true},
		{"garbage", func(linkFrame) []byte { return []byte{1, 2, 3} }, false},
		{"other session", func(f linkFrame) []byte { return appendLinkFrame(nil, linkReply, f.session+1, f.client, frame) }, false},
		{"wrong op", func(f linkFrame) []byte { return appendLinkFrame(nil, linkOut, f.session, f.client, frame) }, false},
	}
	for _, c := range cases {
		go answer(peer, c.reply)
		b, err := p.call(7, -1, []byte("request"), 16, done, 5*time.Second)
		if c.ok && (err != nil || string(b) != string(frame)) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !c.ok && (err == nil || errors.Is(err, errNoLane)) {
			t.Fatalf("%s: accepted (%v)", c.name, err)
		}
		p, peer = partitionSide(t) // a fresh run, as after the kill
	}
	if _, err := p.call(7, -1, make([]byte, shmring.DefaultSlot), 16, done, time.Second); !errors.Is(err, errNoLane) {
		t.Fatalf("an oversized call took a lane: %v", err)
	}
	if _, err := p.call(7, -1, []byte("x"), 1<<20, done, time.Second); !errors.Is(err, errNoLane) {
		t.Fatalf("a call with a reply too large for a slot took a lane: %v", err)
	}
	if _, err := p.call(7, -1, []byte("x"), 16, done, 30*time.Millisecond); !errors.Is(err, shmring.ErrTimeout) {
		t.Fatalf("an unanswered call: %v", err)
	}
}
