package auditsvc_test

import (
	"encoding/binary"
	"testing"

	"rampart/psa"
	"rampart/spe"
)

// FuzzCall feeds hostile calls from secure, reader and other clients.
func FuzzCall(f *testing.F) {
	f.Add(int32(psa.AuditOpAppend), int32(5), []byte("event"), []byte("data"), uint32(0))
	f.Add(int32(psa.AuditOpRead), int32(-2), binary.LittleEndian.AppendUint64(nil, 0), []byte(nil), uint32(512))
	f.Add(int32(psa.AuditOpSize), int32(-2), []byte(nil), []byte(nil), uint32(8))
	f.Add(int32(psa.AuditOpPublicKey), int32(-1), []byte(nil), []byte(nil), uint32(200))
	f.Add(int32(psa.AuditOpCheckpoint), int32(3), []byte(nil), []byte(nil), uint32(0))
	f.Fuzz(func(t *testing.T, typ, client int32, in0, in1 []byte, out uint32) {
		_, _, _, svc := setup(t)
		defer svc.Close()
		m := &spe.Message{Client: client, Type: typ}
		if in0 != nil {
			m.In = append(m.In, in0)
		}
		if in1 != nil {
			m.In = append(m.In, in1)
		}
		if out > 0 {
			m.OutSize = []uint32{out % 8192}
		}
		_ = svc.Call(m)
	})
}
