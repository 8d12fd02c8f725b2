package spe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"rampart/ipc"
)

// TestLinkFrameRoundTrip: a frame reads back as written, and every prefix
// of it is refused.
func TestLinkFrameRoundTrip(t *testing.T) {
	payload := ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindStateless, Seq: 7})
	b := appendLinkFrame(nil, linkReply, 0x0102030405060708, -3, payload)
	f, _, err := readLinkFrame(bufio.NewReader(bytes.NewReader(b)), nil, ipc.Limits{})
	if err != nil || f.op != linkReply || f.session != 0x0102030405060708 || f.client != -3 || !bytes.Equal(f.payload, payload) {
		t.Fatalf("%+v %v", f, err)
	}
	for i := range len(b) {
		if _, _, err := readLinkFrame(bufio.NewReader(bytes.NewReader(b[:i])), nil, ipc.Limits{}); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
	for name, bad := range map[string]func([]byte){
		"op 0":      func(b []byte) { b[4] = 0 },
		"op 13":     func(b []byte) { b[4] = 13 },
		"reserved":  func(b []byte) { b[6] = 1 },
		"short":     func(b []byte) { b[0], b[1], b[2], b[3] = 3, 0, 0, 0 },
		"oversized": func(b []byte) { b[0], b[1], b[2], b[3] = 0xff, 0xff, 0xff, 0x7f },
	} {
		c := bytes.Clone(b)
		bad(c)
		if _, _, err := readLinkFrame(bufio.NewReader(bytes.NewReader(c)), nil, ipc.Limits{}); !errors.Is(err, errLink) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzLinkFrame reads hostile link frames (what a compromised partition
// process sends the SPM): no panic, no frame over the bound, and a frame
// read back writes the same bytes.
func FuzzLinkFrame(f *testing.F) {
	f.Add(appendLinkFrame(nil, linkOut, 1, 0x2001, ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindVersion, Seq: 1})))
	f.Add(appendLinkFrame(nil, linkReady, 0, 0, []byte(`{}`)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		for {
			fr, nb, err := readLinkFrame(br, buf, ipc.Limits{})
			buf = nb
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errLink) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(fr.payload)+linkHeader > maxLinkFrame(ipc.Limits{}) {
				t.Fatalf("frame of %d bytes read", len(fr.payload))
			}
			again := appendLinkFrame(nil, fr.op, fr.session, fr.client, fr.payload)
			if g, _, err := readLinkFrame(bufio.NewReader(bytes.NewReader(again)), nil, ipc.Limits{}); err != nil || g.op != fr.op || !bytes.Equal(g.payload, fr.payload) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

// FuzzLaneFrame parses hostile link frames as taken from a shared-memory
// lane (a whole frame, copied out): no panic, the payload fills the frame
// exactly, and a parsed frame writes the same bytes back.
func FuzzLaneFrame(f *testing.F) {
	f.Add(appendLinkFrame(nil, linkCall, 1, -1, ipc.AppendReply(nil, &ipc.Reply{Kind: ipc.KindVersion, Seq: 1})))
	f.Add(appendLinkFrame(nil, linkReply, 0, 0, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := parseLinkFrame(data, ipc.Limits{})
		if err != nil {
			if !errors.Is(err, errLink) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(fr.payload)+linkHeader != len(data) {
			t.Fatalf("payload of %d bytes in a frame of %d", len(fr.payload), len(data))
		}
		if again := appendLinkFrame(nil, fr.op, fr.session, fr.client, fr.payload); !bytes.Equal(again, data) {
			t.Fatal("round trip changed the frame")
		}
	})
}

// FuzzBindPayload parses hostile direct-lane bind payloads (the SPM reads
// linkBindFailed's from a partition process that may be compromised): no
// panic, errors are link errors, and what parses writes back the same.
func FuzzBindPayload(f *testing.F) {
	f.Add([]byte(`{"id":3,"sid":4098,"handle":7,"slot":4096}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"id":-1,"sid":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := bindPayload(data)
		if err != nil {
			if !errors.Is(err, errLink) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := bindPayload(b); err != nil || again != m {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}
