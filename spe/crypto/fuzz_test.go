package crypto

import (
	"bytes"
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
		// The TPM location on a service without a vault: NOT_SUPPORTED.
		{psa.OpGenerateKey, [][]byte{attrs(psa.KeyAttributes{Type: secp, Bits: 256, Lifetime: psa.LifetimePersistentTPM, ID: 3, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})}, []uint32{4}},
		{psa.OpImportKey, [][]byte{attrs(psa.KeyAttributes{Type: secp, Lifetime: psa.LifetimePersistentTPM, ID: 3, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)}), make([]byte, 32)}, []uint32{4}},
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

// FuzzStreams drives the multi-part cipher, AEAD, key-derivation and hash
// state machines with call sequences: each 3-byte step of prog picks a call,
// the operation it names (one of the setups so far) and how many bytes of
// data to pass. No sequence may panic, answer a non-PSA status or write past
// an output buffer.
func FuzzStreams(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 1, 16, 5, 1, 20, 6, 1, 0})
	f.Add([]byte{1, 0, 0, 9, 1, 13, 10, 1, 0, 11, 1, 8, 12, 1, 24, 13, 1, 0})
	f.Add([]byte{2, 0, 0, 15, 1, 4, 16, 1, 32, 17, 1, 8, 18, 1, 40})
	svc, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	u := psa.AppendUint32
	aes := &spe.Message{Client: -1, Session: 1, Type: int32(psa.OpImportKey), OutSize: []uint32{4},
		In: [][]byte{psa.AppendAttributes(nil, psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: psa.AlgCBCPKCS7}), make([]byte, 16)}}
	gcmKey := &spe.Message{Client: -1, Session: 1, Type: int32(psa.OpImportKey), OutSize: []uint32{4},
		In: [][]byte{psa.AppendAttributes(nil, psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: psa.AlgCCM}), make([]byte, 16)}}
	drv := &spe.Message{Client: -1, Session: 1, Type: int32(psa.OpImportKey), OutSize: []uint32{4},
		In: [][]byte{psa.AppendAttributes(nil, psa.KeyAttributes{Type: psa.KeyTypeDerive, Usage: psa.UsageDerive, Algorithm: psa.AlgHKDF(psa.AlgSHA256)}), make([]byte, 32)}}
	for _, m := range []*spe.Message{aes, gcmKey, drv} {
		if st := svc.Call(m); st != ipc.Success {
			f.Fatal(st)
		}
	}
	aesID, ccmID, drvID := psa.KeyID(0x7f000000), psa.KeyID(0x7f000001), psa.KeyID(0x7f000002)
	data := bytes.Repeat([]byte{0xa5}, 64)
	f.Fuzz(func(t *testing.T, prog []byte) {
		defer svc.SessionClosed(spe.SessionInfo{ID: 2, Client: -1})
		var ops []psa.OperationID
		for len(prog) >= 3 {
			sel, which, n := prog[0], prog[1], int(prog[2])%len(data)
			prog = prog[3:]
			var cur psa.OperationID
			if len(ops) > 0 {
				cur = ops[int(which)%len(ops)]
			}
			var op psa.Op
			var h psa.CryptoHeader
			var in [][]byte
			out := []uint32{uint32(n)}
			switch sel % 20 {
			case 0:
				op, h = psa.OpCipherEncryptSetup, psa.CryptoHeader{Key: aesID, Alg: psa.AlgCBCPKCS7}
			case 1:
				op, h = psa.OpAEADEncryptSetup, psa.CryptoHeader{Key: ccmID, Alg: psa.AlgCCM}
			case 2:
				op, h = psa.OpKDFSetup, psa.CryptoHeader{Alg: psa.AlgHKDF(psa.AlgSHA256)}
			case 3:
				op, in = psa.OpCipherSetIV, [][]byte{data[:n]}
			case 4:
				op = psa.OpCipherGenerateIV
			case 5:
				op, in = psa.OpCipherUpdate, [][]byte{data[:n]}
			case 6:
				op = psa.OpCipherFinish
			case 7:
				op, h = psa.OpCipherDecryptSetup, psa.CryptoHeader{Key: aesID, Alg: psa.AlgCBCPKCS7}
			case 8:
				op, h = psa.OpAEADDecryptSetup, psa.CryptoHeader{Key: ccmID, Alg: psa.AlgCCM}
			case 9:
				op, in = psa.OpAEADSetNonce, [][]byte{data[:n]}
			case 10:
				op, in = psa.OpAEADSetLengths, [][]byte{psa.AppendUint64(nil, uint64(n)), psa.AppendUint64(nil, uint64(n))}
			case 11:
				op, in = psa.OpAEADUpdateAD, [][]byte{data[:n]}
			case 12:
				op, in = psa.OpAEADUpdate, [][]byte{data[:n]}
			case 13:
				op, out = psa.OpAEADFinish, []uint32{uint32(n), 16}
			case 14:
				op, in = psa.OpAEADVerify, [][]byte{data[:n]}
			case 15:
				op, in = psa.OpKDFInputBytes, [][]byte{u(nil, uint32(0x0100+n%6)), data[:n]}
			case 16:
				op, h, in = psa.OpKDFInputKey, psa.CryptoHeader{Key: drvID}, [][]byte{u(nil, 0x0101)}
			case 17:
				op, in = psa.OpKDFInputBytes, [][]byte{u(nil, 0x0203), data[:n]}
			case 18:
				op = psa.OpKDFOutputBytes
			default:
				op = []psa.Op{psa.OpCipherAbort, psa.OpAEADAbort, psa.OpKDFAbort, psa.OpHashClone}[n%4]
			}
			if op != psa.OpCipherEncryptSetup && op != psa.OpAEADEncryptSetup && op != psa.OpKDFSetup &&
				op != psa.OpCipherDecryptSetup && op != psa.OpAEADDecryptSetup {
				h.Operation = cur
			}
			m := &spe.Message{Client: -1, Session: 2, Type: int32(op), In: append([][]byte{psa.AppendCryptoHeader(nil, op, h)}, in...), OutSize: out}
			st := svc.Call(m)
			if st > 0 {
				t.Fatalf("status %d is not a PSA status", st)
			}
			for i, o := range m.Out {
				if int64(len(o)) > int64(m.OutSize[i]) {
					t.Fatalf("op 0x%04x output %d of %d bytes for a %d-byte buffer", int32(op), i, len(o), m.OutSize[i])
				}
			}
			if st == ipc.Success && len(m.Out) > 0 && len(m.Out[0]) == 4 && h.Operation == 0 {
				id, _ := psa.ParseUint32(m.Out[0])
				ops = append(ops, psa.OperationID(id))
			}
		}
	})
}
