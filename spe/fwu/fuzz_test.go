package fwu_test

import (
	"testing"

	"rampart/psa"
	"rampart/spe"
	"rampart/spe/fwu"
	"rampart/spe/ipc"
)

// FuzzDecode feeds hostile vectors to the FWU request decoder.
func FuzzDecode(f *testing.F) {
	f.Add(int32(psa.FWUOpQuery), []byte{0}, []byte(nil), true)
	f.Add(int32(psa.FWUOpStart), []byte{0}, []byte{}, false)
	f.Add(int32(psa.FWUOpWrite), []byte{0, 0, 1, 0, 0}, []byte("block"), false)
	f.Add(int32(psa.FWUOpReject), []byte{1, 0, 0, 0}, []byte(nil), false)
	f.Add(int32(psa.FWUOpInstall), []byte(nil), []byte(nil), false)
	f.Fuzz(func(t *testing.T, typ int32, in0, in1 []byte, out bool) {
		m := &spe.Message{Client: -1, Type: typ}
		if in0 != nil {
			m.In = append(m.In, in0)
		}
		if in1 != nil {
			m.In = append(m.In, in1)
		}
		if out {
			m.OutSize = []uint32{psa.FWUComponentInfoSize}
		}
		r, st := fwu.Decode(m)
		if st != ipc.Success {
			return
		}
		if r.Op == psa.FWUOpWrite && len(in0) != 5 {
			t.Fatal("write decoded from a malformed header")
		}
	})
}
