package ps_test

import (
	"encoding/binary"
	"testing"

	"rampart/psa"
	"rampart/spe"
)

// FuzzCall feeds hostile calls to the PS service (decoder and handler).
func FuzzCall(f *testing.F) {
	set := binary.LittleEndian.AppendUint64(nil, 5)
	set = binary.LittleEndian.AppendUint32(set, 0)
	f.Add(int32(psa.StorageOpSet), set, []byte("data"), uint32(0))
	f.Add(int32(psa.StorageOpGet), set, []byte(nil), uint32(16))
	f.Add(int32(psa.StorageOpGetInfo), set[:8], []byte(nil), uint32(12))
	f.Add(int32(psa.StorageOpRemove), set[:8], []byte(nil), uint32(0))
	f.Add(int32(psa.StorageOpGetSupport), []byte(nil), []byte(nil), uint32(4))
	f.Add(int32(psa.StorageOpCreate), binary.LittleEndian.AppendUint32(set, 64), []byte(nil), uint32(0))
	f.Add(int32(psa.StorageOpSetExtended), set, []byte("more"), uint32(0))
	r := open(f, f.TempDir())
	f.Fuzz(func(t *testing.T, typ int32, in0, in1 []byte, out uint32) {
		m := &spe.Message{Client: -1, Type: typ}
		if in0 != nil {
			m.In = append(m.In, in0)
		}
		if in1 != nil {
			m.In = append(m.In, in1)
		}
		if out > 0 {
			m.OutSize = []uint32{out % 4096}
		}
		_ = r.ps.Call(m)
	})
}
