package attestation_test

import (
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/attestation"
)

// FuzzDecode feeds hostile vectors to the attestation request decoder; a
// decoded request must carry a legal challenge.
func FuzzDecode(f *testing.F) {
	f.Add(int32(psa.AttestOpGetToken), nonce32, []byte{0}, uint32(4096))
	f.Add(int32(psa.AttestOpGetToken), make([]byte, 64), []byte{1}, uint32(4096))
	f.Add(int32(psa.AttestOpGetTokenSize), []byte{48, 0, 0, 0}, []byte(nil), uint32(4))
	f.Add(int32(psa.AttestOpGetPublicKey), []byte(nil), []byte(nil), uint32(133))
	f.Fuzz(func(t *testing.T, typ int32, in0, in1 []byte, out uint32) {
		m := &spe.Message{Client: -1, Type: typ}
		if in0 != nil {
			m.In = append(m.In, in0)
		}
		if in1 != nil {
			m.In = append(m.In, in1)
		}
		m.OutSize = []uint32{out % 8192}
		r, st := attestation.Decode(m)
		if st != ipc.Success {
			return
		}
		if r.Op == psa.AttestOpGetToken && len(r.Challenge) != 32 && len(r.Challenge) != 48 && len(r.Challenge) != 64 {
			t.Fatalf("challenge of %d bytes decoded", len(r.Challenge))
		}
	})
}
