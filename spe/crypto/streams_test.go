package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// svcCall runs one call of session 1 (client -1) on svc.
func svcCall(t *testing.T, svc *Service, op psa.Op, h psa.CryptoHeader, data [][]byte, out ...uint32) ([][]byte, ipc.Status) {
	t.Helper()
	in := append([][]byte{psa.AppendCryptoHeader(nil, op, h)}, data...)
	m := &spe.Message{Client: -1, Session: 1, Type: int32(op), In: in, OutSize: out}
	st := svc.Call(m)
	return m.Out, st
}

func mustCall(t *testing.T, svc *Service, op psa.Op, h psa.CryptoHeader, data [][]byte, out ...uint32) [][]byte {
	t.Helper()
	o, st := svcCall(t, svc, op, h, data, out...)
	if st != ipc.Success {
		t.Fatalf("op 0x%04x: %v", int32(op), st)
	}
	return o
}

func importKey(t *testing.T, svc *Service, a psa.KeyAttributes, material []byte) psa.KeyID {
	o := mustCall(t, svc, psa.OpImportKey, psa.CryptoHeader{Attributes: a}, [][]byte{material}, 4)
	id, _ := psa.ParseUint32(o[0])
	return psa.KeyID(id)
}

func opID(o [][]byte) psa.OperationID {
	id, _ := psa.ParseUint32(o[0])
	return psa.OperationID(id)
}

// TestMultipartCipherMatchesOneShot: CBC-PKCS7 and CTR fed in random pieces
// decrypt what the one-shot call encrypted, and re-encrypt to it.
func TestMultipartCipherMatchesOneShot(t *testing.T) {
	svc, _ := New(Options{})
	r := rand.New(rand.NewPCG(3, 4))
	for _, alg := range []psa.Algorithm{psa.AlgCBCPKCS7, psa.AlgCTR, psa.AlgCBCNoPad} {
		key := importKey(t, svc, psa.KeyAttributes{Type: psa.KeyTypeAES, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: alg}, bytes.Repeat([]byte{5}, 16))
		for _, n := range []int{0, 1, 15, 16, 17, 64, 100} {
			if alg == psa.AlgCBCNoPad && n%16 != 0 {
				continue
			}
			pt := make([]byte, n)
			for i := range pt {
				pt[i] = byte(r.IntN(256))
			}
			ct := mustCall(t, svc, psa.OpCipherEncrypt, psa.CryptoHeader{Key: key, Alg: alg}, [][]byte{pt}, 256)[0]
			stream := func(setup psa.Op, iv, input []byte) []byte {
				op := opID(mustCall(t, svc, setup, psa.CryptoHeader{Key: key, Alg: alg}, nil, 4))
				mustCall(t, svc, psa.OpCipherSetIV, psa.CryptoHeader{Operation: op}, [][]byte{iv})
				var out []byte
				for rest := input; len(rest) > 0; {
					k := 1 + r.IntN(len(rest))
					out = append(out, mustCall(t, svc, psa.OpCipherUpdate, psa.CryptoHeader{Operation: op}, [][]byte{rest[:k]}, uint32(k+16))[0]...)
					rest = rest[k:]
				}
				return append(out, mustCall(t, svc, psa.OpCipherFinish, psa.CryptoHeader{Operation: op}, nil, 16)[0]...)
			}
			if got := stream(psa.OpCipherDecryptSetup, ct[:16], ct[16:]); !bytes.Equal(got, pt) {
				t.Fatalf("%#x, %d bytes: multi-part decryption differs", alg, n)
			}
			if got := stream(psa.OpCipherEncryptSetup, ct[:16], pt); !bytes.Equal(got, ct[16:]) {
				t.Fatalf("%#x, %d bytes: multi-part encryption differs", alg, n)
			}
		}
	}
}

// TestMultipartAEADMatchesOneShot: GCM, CCM (with set_lengths) and
// ChaCha20-Poly1305 built up in pieces give the one-shot ciphertext and tag,
// verify opens it, and a changed tag releases nothing.
func TestMultipartAEADMatchesOneShot(t *testing.T) {
	svc, _ := New(Options{})
	for _, c := range []struct {
		typ   psa.KeyType
		alg   psa.Algorithm
		nonce int
	}{{psa.KeyTypeAES, psa.AlgGCM, 12}, {psa.KeyTypeAES, psa.AlgCCM, 13}, {psa.KeyTypeChaCha20, psa.AlgChaCha20Poly1305, 12}} {
		klen := 16
		if c.typ == psa.KeyTypeChaCha20 {
			klen = 32
		}
		key := importKey(t, svc, psa.KeyAttributes{Type: c.typ, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: c.alg}, bytes.Repeat([]byte{7}, klen))
		nonce, ad, pt := bytes.Repeat([]byte{1}, c.nonce), []byte("header"), []byte("a message of some thirty bytes.")
		want := mustCall(t, svc, psa.OpAEADEncrypt, psa.CryptoHeader{Key: key, Alg: c.alg, Nonce: nonce}, [][]byte{ad, pt}, 256)[0]
		start := func(setup psa.Op) psa.OperationID {
			op := opID(mustCall(t, svc, setup, psa.CryptoHeader{Key: key, Alg: c.alg}, nil, 4))
			h := psa.CryptoHeader{Operation: op}
			mustCall(t, svc, psa.OpAEADSetNonce, h, [][]byte{nonce})
			mustCall(t, svc, psa.OpAEADSetLengths, h, [][]byte{psa.AppendUint64(nil, uint64(len(ad))), psa.AppendUint64(nil, uint64(len(pt)))})
			mustCall(t, svc, psa.OpAEADUpdateAD, h, [][]byte{ad[:2]})
			mustCall(t, svc, psa.OpAEADUpdateAD, h, [][]byte{ad[2:]})
			return op
		}
		op := start(psa.OpAEADEncryptSetup)
		h := psa.CryptoHeader{Operation: op}
		mustCall(t, svc, psa.OpAEADUpdate, h, [][]byte{pt[:10]}, 64)
		mustCall(t, svc, psa.OpAEADUpdate, h, [][]byte{pt[10:]}, 64)
		out := mustCall(t, svc, psa.OpAEADFinish, h, nil, 64, 16)
		if got := append(out[0], out[1]...); !bytes.Equal(got, want) {
			t.Fatalf("%#x: multi-part %x, one-shot %x", c.alg, got, want)
		}
		for _, tamper := range []bool{false, true} {
			op = start(psa.OpAEADDecryptSetup)
			h = psa.CryptoHeader{Operation: op}
			mustCall(t, svc, psa.OpAEADUpdate, h, [][]byte{want[:len(pt)]}, 64)
			tag := bytes.Clone(want[len(pt):])
			if tamper {
				tag[0] ^= 1
			}
			got, st := svcCall(t, svc, psa.OpAEADVerify, h, [][]byte{tag}, 64)
			switch {
			case !tamper && (st != ipc.Success || !bytes.Equal(got[0], pt)):
				t.Fatalf("%#x: verify %v %q", c.alg, st, got)
			case tamper && (st != ipc.ErrInvalidSignature || len(got) > 0 && len(got[0]) > 0):
				t.Fatalf("%#x: a changed tag: %v %q", c.alg, st, got)
			}
		}
	}
}

// TestKeyDerivationStream: output in pieces is the HKDF stream; the capacity
// bounds it; output before the info step is BAD_STATE; hash_clone continues
// a hash independently.
func TestKeyDerivationStream(t *testing.T) {
	svc, _ := New(Options{})
	secret := bytes.Repeat([]byte{9}, 32)
	key := importKey(t, svc, psa.KeyAttributes{Type: psa.KeyTypeDerive, Usage: psa.UsageDerive, Algorithm: psa.AlgHKDF(psa.AlgSHA256)}, secret)
	op := opID(mustCall(t, svc, psa.OpKDFSetup, psa.CryptoHeader{Alg: psa.AlgHKDF(psa.AlgSHA256)}, nil, 4))
	h := psa.CryptoHeader{Operation: op}
	step := func(s uint32) []byte { return psa.AppendUint32(nil, s) }
	mustCall(t, svc, psa.OpKDFInputBytes, h, [][]byte{step(stepSalt), []byte("salt")})
	mustCall(t, svc, psa.OpKDFInputKey, psa.CryptoHeader{Key: key, Operation: op}, [][]byte{step(stepSecret)})
	if _, st := svcCall(t, svc, psa.OpKDFOutputBytes, h, nil, 8); st != ipc.ErrBadState {
		t.Fatalf("output before info: %v", st)
	}
	mustCall(t, svc, psa.OpKDFInputBytes, h, [][]byte{step(stepInfo), []byte("info")})
	mustCall(t, svc, psa.OpKDFSetCapacity, h, [][]byte{psa.AppendUint64(nil, 40)})
	got := mustCall(t, svc, psa.OpKDFOutputBytes, h, nil, 10)[0]
	got = append(got, mustCall(t, svc, psa.OpKDFOutputBytes, h, nil, 30)[0]...)
	want, _ := hkdf.Key(sha256.New, secret, []byte("salt"), "info", 40)
	if !bytes.Equal(got, want) {
		t.Fatalf("derived %x, want %x", got, want)
	}
	if _, st := svcCall(t, svc, psa.OpKDFOutputBytes, h, nil, 1); st != ipc.ErrInsufficientData {
		t.Fatalf("past the capacity: %v", st)
	}

	hop := opID(mustCall(t, svc, psa.OpHashSetup, psa.CryptoHeader{Alg: psa.AlgSHA256}, nil, 4))
	mustCall(t, svc, psa.OpHashUpdate, psa.CryptoHeader{Operation: hop}, [][]byte{[]byte("ab")})
	clone := opID(mustCall(t, svc, psa.OpHashClone, psa.CryptoHeader{Operation: hop}, nil, 4))
	mustCall(t, svc, psa.OpHashUpdate, psa.CryptoHeader{Operation: clone}, [][]byte{[]byte("c")})
	a := mustCall(t, svc, psa.OpHashFinish, psa.CryptoHeader{Operation: hop}, nil, 64)[0]
	b := mustCall(t, svc, psa.OpHashFinish, psa.CryptoHeader{Operation: clone}, nil, 64)[0]
	if wa, wb := sha256.Sum256([]byte("ab")), sha256.Sum256([]byte("abc")); !bytes.Equal(a, wa[:]) || !bytes.Equal(b, wb[:]) {
		t.Fatal("hash clone did not continue independently")
	}
}
