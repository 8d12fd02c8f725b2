package ipc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/frames.txt from the encoder")

// sampleRequests covers every request kind; their encodings are the golden
// vectors in testdata/frames.txt (also the fuzz seeds).
func sampleRequests() map[string]*Request {
	return map[string]*Request{
		"version":   {Kind: KindVersion, Seq: 1, SID: 0x80},
		"connect":   {Kind: KindConnect, Seq: 2, SID: 0x80, Version: 1},
		"call":      {Kind: KindCall, Seq: 3, Handle: 0x0123456789abcdef, Type: 7, In: [][]byte{{1, 2, 3}, {}}, OutSize: []uint32{64}},
		"call-full": {Kind: KindCall, Seq: 4, Handle: 1, Type: 0, In: [][]byte{{9}, {8, 8}}, OutSize: []uint32{1, 2}},
		"close":     {Kind: KindClose, Seq: 5, Handle: 0x0123456789abcdef},
		"stateless": {Kind: KindStateless, Seq: 6, SID: 0x80, Version: 1, Type: 0x501, In: [][]byte{[]byte("hello")}, OutSize: []uint32{32}},
		"empty":     {Kind: KindStateless, Seq: 7, SID: 0x0f000001, Version: 1, Type: 0},
		"shm":       {Kind: KindSharedMemory, Seq: 8},
		"direct":    {Kind: KindDirectLane, Seq: 10, Handle: 0x0123456789abcdef},
	}
}

func sampleReplies() map[string]*Reply {
	return map[string]*Reply{
		"r-version": {Kind: KindVersion, Seq: 1, Version: 1},
		"r-connect": {Kind: KindConnect, Seq: 2, Handle: 0x0123456789abcdef},
		"r-call":    {Kind: KindCall, Seq: 3, Status: ErrBufferTooSmall, Out: [][]byte{{1, 2}}},
		"r-close":   {Kind: KindClose, Seq: 5},
		"r-error":   {Kind: KindError, Seq: 9, Status: ErrProgrammerError},
		"r-state":   {Kind: KindStateless, Seq: 6, Out: [][]byte{{}, {4}}},
		"r-shm":     {Kind: KindSharedMemory, Seq: 8, Slot: 65536},
		"r-direct":  {Kind: KindDirectLane, Seq: 10, Slot: 65536},
	}
}

func goldenFrames(t *testing.T) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "frames.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("frames.txt: bad line %q", line)
		}
		b, err := hex.DecodeString(strings.TrimSpace(hx))
		if err != nil {
			t.Fatalf("frames.txt: %s: %v", name, err)
		}
		out[name] = b
	}
	return out
}

func TestGoldenFramesRoundTrip(t *testing.T) {
	enc := map[string][]byte{}
	for name, r := range sampleRequests() {
		b, err := AppendRequest(nil, r, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc[name] = b
	}
	for name, r := range sampleReplies() {
		enc[name] = AppendReply(nil, r)
	}
	if *update {
		var sb strings.Builder
		sb.WriteString("# Golden SPE IPC frames (docs/spe-ipc.md): name, then the frame in hex.\n")
		for _, name := range sortedKeys(enc) {
			sb.WriteString(name + " " + hex.EncodeToString(enc[name]) + "\n")
		}
		if err := os.WriteFile(filepath.Join("testdata", "frames.txt"), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gold := goldenFrames(t)
	if len(gold) != len(enc) {
		t.Fatalf("golden has %d frames, encoder %d (run with -update?)", len(gold), len(enc))
	}
	for name, b := range enc {
		if !bytes.Equal(gold[name], b) {
			t.Errorf("%s: encoder %x, golden %x", name, b, gold[name])
		}
	}
	for name, r := range sampleRequests() {
		got, err := ParseRequest(gold[name], Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reqEqual(got, r) {
			t.Errorf("%s: parsed %+v, want %+v", name, got, r)
		}
	}
	for name, r := range sampleReplies() {
		got, err := ParseReply(gold[name], Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !repEqual(got, r) {
			t.Errorf("%s: parsed %+v, want %+v", name, got, r)
		}
	}
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func normVecs(v [][]byte) [][]byte {
	var out [][]byte
	for _, x := range v {
		out = append(out, append([]byte{}, x...))
	}
	return out
}

func reqEqual(a, b *Request) bool {
	a2, b2 := *a, *b
	a2.In, b2.In = normVecs(a.In), normVecs(b.In)
	return reflect.DeepEqual(a2, b2)
}

func repEqual(a, b *Reply) bool {
	a2, b2 := *a, *b
	a2.Out, b2.Out = normVecs(a.Out), normVecs(b.Out)
	return reflect.DeepEqual(a2, b2)
}

// Every proper prefix of a valid frame is refused, as truncated.
func TestEveryPrefixRefused(t *testing.T) {
	for name, b := range goldenFrames(t) {
		for i := 0; i < len(b); i++ {
			_, err1 := ParseRequest(b[:i], Limits{})
			_, err2 := ParseReply(b[:i], Limits{})
			if err1 == nil || err2 == nil {
				t.Fatalf("%s: prefix of %d/%d bytes accepted", name, i, len(b))
			}
			if !errors.Is(err1, ErrTruncated) {
				t.Fatalf("%s: prefix %d: %v, want truncated", name, i, err1)
			}
		}
	}
}

func mustFrame(t *testing.T, r *Request) []byte {
	t.Helper()
	b, err := AppendRequest(nil, r, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostileFrames(t *testing.T) {
	call := mustFrame(t, sampleRequests()["call"])
	set := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte{}, b...)
		copy(c[off:], v)
		return c
	}
	cases := []struct {
		name  string
		frame []byte
		want  error
		field string
	}{
		{"huge length", set(call, 0, 0xff, 0xff, 0xff, 0x7f), ErrOversized, "length"},
		{"short length", set(call, 0, 3, 0, 0, 0), ErrTruncated, "length"},
		{"trailing bytes", append(set(call, 0, byte(len(call)-3)), 0), ErrMalformed, "length"},
		{"bad version", set(call, 4, 2), ErrMalformed, "version"},
		{"unknown kind", set(call, 5, 0x42), ErrMalformed, "kind"},
		{"reply kind as request", set(call, 5, 0x83), ErrMalformed, "kind"},
		{"reserved header", set(call, 6, 1), ErrMalformed, "reserved"},
		{"negative type", set(call, 20, 0xff, 0xff, 0xff, 0xff), ErrMalformed, "type"},
		{"type over int16", set(call, 20, 0, 0x80, 0, 0), ErrMalformed, "type"},
		{"huge vector count", set(call, 24, 0xff), ErrOversized, "nvec"},
		{"five vectors", set(call, 24, 3, 2), ErrOversized, "nvec"},
		{"reserved vec", set(call, 26, 1), ErrMalformed, "reserved"},
		{"in_len beyond frame", set(call, 28, 0, 0, 1, 0), ErrTruncated, "in[0]"},
		{"in_len over limit", set(call, 28, 0, 0, 0, 0x10), ErrOversized, "in_len[0]"},
		{"out_size over limit", set(call, 36, 0, 0, 0, 0x10), ErrOversized, "out_size[0]"},
		{"out_size total over the reply frame", set(mustFrame(t, &Request{Kind: KindCall, OutSize: []uint32{1, 1, 1}}), 28, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0, 6, 0), ErrOversized, "out_size"},
	}
	for _, c := range cases {
		_, err := ParseRequest(c.frame, Limits{})
		var fe *FrameError
		if !errors.Is(err, c.want) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: err %v, want %v in field %s", c.name, err, c.want, c.field)
		}
	}
}

func TestEncoderRefusesWhatDecoderRefuses(t *testing.T) {
	for _, r := range []*Request{
		{Kind: KindCall, In: make([][]byte, 3), OutSize: make([]uint32, 2)},
		{Kind: KindCall, Type: -1},
		{Kind: KindCall, In: [][]byte{make([]byte, 11)}},
		{Kind: KindStateless, OutSize: []uint32{11}},
		{Kind: 0x42},
	} {
		if _, err := AppendRequest(nil, r, Limits{MaxVec: 10}); err == nil {
			t.Errorf("%+v: encoded", r)
		}
	}
	if _, err := AppendRequest(nil, &Request{Kind: KindCall, In: [][]byte{make([]byte, 60)}}, Limits{MaxFrame: 64}); !errors.Is(err, ErrOversized) {
		t.Errorf("frame over MaxFrame: %v", err)
	}
}

func TestStatusNames(t *testing.T) {
	if ErrNotPermitted.Error() != "PSA_ERROR_NOT_PERMITTED" || Status(-7).String() != "psa_status(-7)" {
		t.Fatal("status names")
	}
	if Success.Err() != nil || !errors.Is(ErrInvalidHandle.Err(), ErrInvalidHandle) {
		t.Fatal("Err")
	}
}

// FuzzParseRequest: the decoder never panics, and whatever it accepts
// re-encodes to the same bytes.
func FuzzParseRequest(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "frames.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if _, hx, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			if b, err := hex.DecodeString(hx); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxFrame: 1 << 16, MaxVec: 1 << 12}
		if q, err := ParseRequest(b, lim); err == nil {
			again, err := AppendRequest(nil, q, lim)
			if err != nil {
				t.Fatalf("accepted frame does not re-encode: %v", err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
			}
		}
		if p, err := ParseReply(b, lim); err == nil {
			if again := AppendReply(nil, p); !bytes.Equal(again, b) {
				t.Fatalf("reply re-encoding differs:\n%x\n%x", b, again)
			}
		}
	})
}
