package crypto

import (
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// TestShortHeaderIsInvalidArgument: for every operation with a header, the
// header psa encodes gets past the service's layout check (the call is
// refused, if at all, for what it names: a key or operation that does not
// exist), and the same header cut short of its fixed fields is
// INVALID_ARGUMENT, as docs/spe-ipc.md says.
func TestShortHeaderIsInvalidArgument(t *testing.T) {
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	aes := psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageEncrypt, Algorithm: psa.AlgGCM}
	for _, c := range []struct {
		op  psa.Op
		alg psa.Algorithm
		nin int // vectors the operation takes, header included
	}{
		{psa.OpHashCompute, psa.AlgSHA256, 2}, {psa.OpImportKey, 0, 2}, {psa.OpGenerateKey, 0, 1},
		{psa.OpExportKey, 0, 1}, {psa.OpExportPublicKey, 0, 1}, {psa.OpCopyKey, 0, 1},
		{psa.OpDestroyKey, 0, 1}, {psa.OpPurgeKey, 0, 1}, {psa.OpGetKeyAttributes, 0, 1},
		{psa.OpMACCompute, psa.AlgHMAC(psa.AlgSHA256), 2}, {psa.OpMACVerify, psa.AlgHMAC(psa.AlgSHA256), 3},
		{psa.OpCipherEncrypt, psa.AlgCTR, 2}, {psa.OpCipherDecrypt, psa.AlgCTR, 2},
		{psa.OpAEADEncrypt, psa.AlgGCM, 3}, {psa.OpAEADDecrypt, psa.AlgGCM, 3},
		{psa.OpSignHash, psa.AlgECDSA(psa.AlgSHA256), 2}, {psa.OpVerifyHash, psa.AlgECDSA(psa.AlgSHA256), 3},
		{psa.OpSignMessage, psa.AlgECDSA(psa.AlgSHA256), 2}, {psa.OpVerifyMessage, psa.AlgECDSA(psa.AlgSHA256), 3},
		{psa.OpAsymmetricEncrypt, psa.AlgRSAOAEP(psa.AlgSHA256), 3}, {psa.OpAsymmetricDecrypt, psa.AlgRSAOAEP(psa.AlgSHA256), 3},
		{psa.OpRawKeyAgreement, psa.AlgECDH, 2},
		{psa.OpDeriveBytes, psa.AlgHKDF(psa.AlgSHA256), 3}, {psa.OpDeriveKey, psa.AlgHKDF(psa.AlgSHA256), 3},
		{psa.OpHashSetup, psa.AlgSHA256, 1}, {psa.OpHashUpdate, 0, 2}, {psa.OpHashFinish, 0, 1},
		{psa.OpHashVerify, 0, 2}, {psa.OpHashAbort, 0, 1},
		{psa.OpMACSignSetup, psa.AlgHMAC(psa.AlgSHA256), 1}, {psa.OpMACVerifySetup, psa.AlgHMAC(psa.AlgSHA256), 1},
		{psa.OpMACUpdate, 0, 2}, {psa.OpMACSignFinish, 0, 1}, {psa.OpMACVerifyFinish, 0, 2}, {psa.OpMACAbort, 0, 1},
	} {
		call := func(hdr []byte) ipc.Status {
			in := make([][]byte, c.nin)
			in[0] = hdr
			if c.op == psa.OpImportKey {
				in[1] = make([]byte, 16) // an AES-128 key
			}
			m := &spe.Message{Client: -1, Session: 1, Type: int32(c.op), In: in, OutSize: []uint32{64}}
			return svc.Call(m)
		}
		// A key and an operation that do not exist; attributes a new key
		// may have.
		h := psa.CryptoHeader{Key: 0x7f0000ff, Alg: c.alg, Length: 16, Attributes: aes, Operation: 0xff}
		fixed := len(psa.AppendCryptoHeader(nil, c.op, h))
		h.Nonce = make([]byte, 12)
		b := psa.AppendCryptoHeader(nil, c.op, h)
		if st := call(b); st == ipc.ErrInvalidArgument {
			t.Errorf("op 0x%04x: well-formed header refused as INVALID_ARGUMENT", c.op)
		}
		if st := call(b[:fixed-1]); st != ipc.ErrInvalidArgument {
			t.Errorf("op 0x%04x: header of %d bytes: %v, want INVALID_ARGUMENT", c.op, fixed-1, st)
		}
	}
}
