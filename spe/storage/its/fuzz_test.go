package its_test

import (
	"encoding/binary"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/storage/its"
)

// FuzzDecode feeds hostile vectors to the storage request decoder and, when
// they decode, to the service.
func FuzzDecode(f *testing.F) {
	set := binary.LittleEndian.AppendUint64(nil, 5)
	set = binary.LittleEndian.AppendUint32(set, 1)
	get := binary.LittleEndian.AppendUint64(nil, 5)
	get = binary.LittleEndian.AppendUint32(get, 2)
	f.Add(int32(psa.StorageOpSet), set, []byte("data"), uint32(0))
	f.Add(int32(psa.StorageOpGet), get, []byte(nil), uint32(16))
	f.Add(int32(psa.StorageOpGetInfo), set[:8], []byte(nil), uint32(12))
	f.Add(int32(psa.StorageOpRemove), set[:8], []byte(nil), uint32(0))
	f.Add(int32(99), []byte{}, []byte{}, uint32(0))
	s := newITS(f, f.TempDir(), its.Limits{MaxAssets: 4})
	f.Fuzz(func(t *testing.T, typ int32, in0, in1 []byte, out uint32) {
		m := &spe.Message{Client: -1, Type: typ, In: [][]byte{in0}}
		if in1 != nil {
			m.In = append(m.In, in1)
		}
		if out > 0 {
			m.OutSize = []uint32{out % 4096}
		}
		r, st := its.Decode(m)
		if st != ipc.Success {
			if r != nil {
				t.Fatal("request returned with an error status")
			}
			return
		}
		_ = s.Call(m)
	})
}
