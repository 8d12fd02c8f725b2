package fwu_test

import (
	"testing"

	"rampart/boot"
	"rampart/image"
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

// FuzzCall sends hostile calls to a live FWU service on one device, one
// after another: whatever they do, the bootloader is never asked to test an
// image that does not verify with the boot key.
func FuzzCall(f *testing.F) {
	img := signed(f, "2.0.0", 3000, bootKey)
	f.Add(int32(psa.FWUOpStart), []byte{0}, []byte{}, false)
	f.Add(int32(psa.FWUOpWrite), []byte{0, 0, 0, 0, 0}, img, false)
	f.Add(int32(psa.FWUOpWrite), []byte{0, 0, 0, 0, 0}, []byte("garbage"), false)
	f.Add(int32(psa.FWUOpFinish), []byte{0}, []byte(nil), false)
	f.Add(int32(psa.FWUOpInstall), []byte(nil), []byte(nil), false)
	f.Add(int32(psa.FWUOpQuery), []byte{0}, []byte(nil), true)
	f.Add(int32(psa.FWUOpClean), []byte{0}, []byte(nil), false)
	d := newFuzzDevice(f)
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
		if psa.FWUOp(typ) == psa.FWUOpRequestReboot {
			return // rebooting is covered elsewhere; keep each input cheap
		}
		d.svc.Call(m)
		st, err := d.bl.State()
		if err != nil {
			t.Fatal(err)
		}
		if st[0].NextSwap != boot.SwapNone {
			data := make([]byte, st[0].Secondary.Size)
			if err := d.dev.Read(st[0].Secondary.Offset, data); err != nil {
				t.Fatal(err)
			}
			if _, v, err := image.Verify(data, &bootKey.PublicKey); err != nil || !v.Signed {
				t.Fatalf("an unverified image is staged: %v", err)
			}
		}
	})
}
