package lifecycle_test

import (
	"testing"

	"rampart/spe"
	"rampart/spe/lifecycle"
)

// FuzzCall feeds hostile lifecycle calls from admin and other clients: the
// state may only ever follow an allowed transition.
func FuzzCall(f *testing.F) {
	f.Add(int32(1), int32(-9), []byte(nil), true)
	f.Add(int32(2), int32(-9), []byte{0x00, 0x20}, false)
	f.Add(int32(2), int32(-1), []byte{0x00, 0x60}, false)
	f.Add(int32(2), int32(5), []byte{0x00, 0x30}, false)
	f.Add(int32(3), int32(5), []byte{0x00}, true)
	f.Fuzz(func(t *testing.T, typ, client int32, in0 []byte, out bool) {
		m := open(t, t.TempDir())
		svc := &lifecycle.Service{M: m, Admins: []int32{-9}}
		msg := &spe.Message{Client: client, Type: typ}
		if in0 != nil {
			msg.In = [][]byte{in0}
		}
		if out {
			msg.OutSize = []uint32{2}
		}
		before := m.State()
		svc.Call(msg)
		if after := m.State(); after != before && !lifecycle.Allowed(before, after) {
			t.Fatalf("%s -> %s", before, after)
		}
		if m.State() != before && client < 0 && client != -9 {
			t.Fatal("a non-admin client changed the state")
		}
	})
}
