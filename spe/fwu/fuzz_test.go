package fwu_test

import (
	"testing"

	"rampart/boot"
	"rampart/image"
	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/fwu"
	"rampart/spe/storage"
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

// FuzzLoadState: the FWU state record (a file in the SPE's storage, not
// authenticated) may hold anything; the service must still start, answer
// Query, and never stage or allocate beyond the slot on its word.
func FuzzLoadState(f *testing.F) {
	for _, s := range []string{
		`[{"state":0}]`, `[{"state":2,"candidate":{"major":2},"written":3000}]`,
		`[{"state":2,"written":4000000000}]`, `[{"state":200}]`, `{`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	d := newFuzzDevice(f)
	cfg, err := boot.ParseConfig([]byte(flashMap), true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, state []byte) {
		st, err := storage.Open(t.TempDir(), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put("state", state); err != nil {
			return // refused by the store itself (e.g. too large)
		}
		svc, err := fwu.New(fwu.Options{Store: st, Flash: d.dev, Config: cfg, Boot: d.bl, Keys: []any{&bootKey.PublicKey}})
		if err != nil {
			t.Fatalf("state %q: the service did not start: %v", state, err)
		}
		if _, err := svc.Query(0); err != nil {
			t.Fatalf("state %q: query: %v", state, err)
		}
		svc.Install() // must not panic nor allocate past the slot
	})
}
