package crypto

import (
	"encoding/binary"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// FuzzCall feeds arbitrary call types and vectors straight to the crypto
// service's handler (no recover in between): it must never panic, never
// write more than the caller's buffer, and answer with a PSA status. Seeds
// are well-formed calls of each operation on keys that exist.
func FuzzCall(f *testing.F) {
	u := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	attrs := func(a psa.KeyAttributes) []byte { return psa.AppendAttributes(nil, a) }
	aesID, ecID := uint32(0x7f000000), uint32(0x7f000001)
	seeds := []struct {
		op  psa.Op
		in  [][]byte
		out []uint32
	}{
		{psa.OpGenerateRandom, nil, []uint32{16}},
		{psa.OpHashCompute, [][]byte{u(uint32(psa.AlgSHA256)), []byte("abc")}, []uint32{64}},
		{psa.OpImportKey, [][]byte{attrs(psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt, Algorithm: psa.AlgGCM}), make([]byte, 16)}, []uint32{4}},
		{psa.OpGenerateKey, [][]byte{attrs(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})}, []uint32{4}},
		{psa.OpAEADEncrypt, [][]byte{append(u(aesID, uint32(psa.AlgGCM)), make([]byte, 12)...), nil, []byte("pt")}, []uint32{64}},
		{psa.OpSignHash, [][]byte{u(ecID, uint32(psa.AlgECDSA(psa.AlgSHA256))), make([]byte, 32)}, []uint32{64}},
		{psa.OpCopyKey, [][]byte{append(u(aesID), attrs(psa.KeyAttributes{Usage: psa.UsageEncrypt, Algorithm: psa.AlgGCM})...)}, []uint32{4}},
		{psa.OpDeriveBytes, [][]byte{u(aesID, uint32(psa.AlgHKDF(psa.AlgSHA256)), 32), nil, nil}, []uint32{32}},
		{psa.OpExportKey, [][]byte{u(aesID)}, []uint32{64}},
		{psa.OpListKeys, nil, []uint32{1024}},
		{psa.OpCipherEncryptSetup, [][]byte{u(aesID, uint32(psa.AlgCTR))}, []uint32{4}},
		{psa.OpAEADEncryptSetup, [][]byte{u(aesID, uint32(psa.AlgGCM))}, []uint32{4}},
		{psa.OpAEADSetLengths, [][]byte{u(1), make([]byte, 8), make([]byte, 8)}, nil},
		{psa.OpKDFSetup, [][]byte{u(uint32(psa.AlgHKDF(psa.AlgSHA256)))}, []uint32{4}},
		{psa.OpKDFInputBytes, [][]byte{u(1), u(0x0101), []byte("secret")}, nil},
		{psa.OpHashClone, [][]byte{u(1)}, []uint32{4}},
	}
	for _, s := range seeds {
		var in [4][]byte
		copy(in[:], s.in)
		var out uint32
		if len(s.out) > 0 {
			out = s.out[0]
		}
		f.Add(int32(s.op), uint8(len(s.in)), in[0], in[1], in[2], out)
	}
	svc, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	setup := &spe.Message{Client: -1, Session: 1, Type: int32(psa.OpImportKey), OutSize: []uint32{4},
		In: [][]byte{attrs(psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt | psa.UsageDerive | psa.UsageExport | psa.UsageCopy, Algorithm: psa.AlgGCM}), make([]byte, 16)}}
	if st := svc.Call(setup); st != ipc.Success {
		f.Fatal(st)
	}
	setup = &spe.Message{Client: -1, Session: 1, Type: int32(psa.OpGenerateKey), OutSize: []uint32{4},
		In: [][]byte{attrs(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})}}
	if st := svc.Call(setup); st != ipc.Success {
		f.Fatal(st)
	}
	f.Fuzz(func(t *testing.T, op int32, nin uint8, a, b, c []byte, out uint32) {
		in := [][]byte{a, b, c}[:int(nin)%4]
		m := &spe.Message{Client: -1, Session: 2, Type: op, In: in, OutSize: []uint32{out % (1 << 16)}}
		st := svc.Call(m)
		if st > 0 {
			t.Fatalf("status %d is not a PSA status", st)
		}
		for i, o := range m.Out {
			if int64(len(o)) > int64(m.OutSize[i]) {
				t.Fatalf("output %d of %d bytes for a %d-byte buffer", i, len(o), m.OutSize[i])
			}
		}
		svc.SessionClosed(spe.SessionInfo{ID: 2, Client: -1}) // do not accumulate keys
	})
}
