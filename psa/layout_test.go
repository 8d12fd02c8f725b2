package psa

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// le32 spells the header fields the way docs/spe-ipc.md does: u32 values,
// little-endian, one after the other.
func le32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

var testAttrs = KeyAttributes{Type: KeyTypeAES, Bits: 256, Lifetime: LifetimePersistent, ID: 7, Usage: UsageEncrypt, Algorithm: AlgGCM}

// TestCryptoHeaderBytes pins the header of one operation of each layout to
// the bytes docs/spe-ipc.md specifies.
func TestCryptoHeaderBytes(t *testing.T) {
	attrs, _ := testAttrs.MarshalBinary()
	full := CryptoHeader{Key: 0x11223344, Alg: AlgECDSA(AlgSHA256), Length: 42, Attributes: testAttrs, Operation: 9, Nonce: []byte{0xaa, 0xbb}}
	for _, c := range []struct {
		op   Op
		want []byte
	}{
		{OpHashCompute, le32(uint32(full.Alg))},
		{OpImportKey, attrs},
		{OpExportKey, le32(0x11223344)},
		{OpCopyKey, append(le32(0x11223344), attrs...)},
		{OpSignHash, le32(0x11223344, uint32(full.Alg))},
		{OpAEADEncrypt, append(le32(0x11223344, uint32(full.Alg)), 0xaa, 0xbb)},
		{OpDeriveBytes, le32(0x11223344, uint32(full.Alg), 42)},
		{OpDeriveKey, append(le32(0x11223344, uint32(full.Alg)), attrs...)},
		{OpHashUpdate, le32(9)},
		{OpMACAbort, le32(9)},
	} {
		if got := AppendCryptoHeader(nil, c.op, full); !bytes.Equal(got, c.want) {
			t.Errorf("op 0x%04x: %x, want %x", c.op, got, c.want)
		}
	}
	for _, op := range []Op{OpGenerateRandom, OpListKeys, Op(0x7777)} {
		if got := AppendCryptoHeader([]byte{1}, op, full); !bytes.Equal(got, []byte{1}) {
			t.Errorf("op 0x%04x has no header but appended %x", op, got)
		}
		if _, err := ParseCryptoHeader(op, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("op 0x%04x: parse without a header: %v", op, err)
		}
	}
}

// cryptoOps returns every Op constant declared in wire.go, read from the
// source so that an operation added there without a layout is caught.
func cryptoOps(t *testing.T) map[string]Op {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "wire.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]Op{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Type == nil || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Op" {
			lit := vs.Values[0].(*ast.BasicLit)
			v, ok := new(big.Int).SetString(lit.Value[2:], 16)
			if !ok {
				t.Fatalf("%s = %s", vs.Names[0].Name, lit.Value)
			}
			ops[vs.Names[0].Name] = Op(v.Int64())
		}
		return true
	})
	if len(ops) < 30 {
		t.Fatalf("found only %d operations in wire.go", len(ops))
	}
	return ops
}

// TestEveryCryptoOpHasALayout: every operation has a header layout, but the
// two that take no vector 0; each round-trips and refuses every other length.
func TestEveryCryptoOpHasALayout(t *testing.T) {
	for name, op := range cryptoOps(t) {
		f, ok := cryptoLayout(op)
		if !ok {
			if op != OpGenerateRandom && op != OpListKeys {
				t.Errorf("%s has no header layout", name)
			}
			continue
		}
		h := CryptoHeader{Key: 0x01020304, Alg: AlgHMAC(AlgSHA256), Length: 77, Attributes: testAttrs, Operation: 5}
		if f&hasNonce != 0 {
			h.Nonce = bytes.Repeat([]byte{0x5a}, 12)
		}
		b := AppendCryptoHeader(nil, op, h)
		got, err := ParseCryptoHeader(op, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again := AppendCryptoHeader(nil, op, got); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoded %x, want %x", name, again, b)
		}
		for n := 0; n < f.fixedSize(); n++ {
			if _, err := ParseCryptoHeader(op, b[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: prefix of %d bytes: %v", name, n, err)
			}
		}
		if f&hasNonce == 0 {
			if _, err := ParseCryptoHeader(op, append(b, 0)); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: trailing byte: %v", name, err)
			}
		}
	}
}

func TestCryptoHeaderRefusesBadAttributes(t *testing.T) {
	b := AppendCryptoHeader(nil, OpDeriveKey, CryptoHeader{Key: 1, Alg: AlgHKDF(AlgSHA256), Attributes: testAttrs})
	b[8+2] = 1 // a reserved byte of the attributes
	if _, err := ParseCryptoHeader(OpDeriveKey, b); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func FuzzParseCryptoHeader(f *testing.F) {
	h := CryptoHeader{Key: 3, Alg: AlgGCM, Length: 16, Attributes: testAttrs, Operation: 2, Nonce: make([]byte, 12)}
	for _, op := range []Op{OpHashCompute, OpImportKey, OpExportKey, OpCopyKey, OpSignHash, OpAEADDecrypt, OpDeriveBytes, OpDeriveKey, OpMACUpdate,
		OpCipherEncryptSetup, OpAEADSetLengths, OpKDFSetup, OpKDFInputKey, OpKDFOutputKey, OpHashClone} {
		f.Add(int32(op), AppendCryptoHeader(nil, op, h))
	}
	f.Fuzz(func(t *testing.T, op int32, b []byte) {
		h, err := ParseCryptoHeader(Op(op), b)
		if err != nil {
			return
		}
		if again := AppendCryptoHeader(nil, Op(op), h); !bytes.Equal(again, b) {
			t.Fatalf("op 0x%04x: re-encoding %x, want %x", op, again, b)
		}
	})
}

func TestStorageHeader(t *testing.T) {
	h := StorageHeader{UID: 0x0102030405060708, Flags: StorageFlagWriteOnce, Offset: 99, Capacity: 77}
	uid := binary.LittleEndian.AppendUint64(nil, uint64(h.UID))
	for _, c := range []struct {
		op   StorageOp
		want []byte
	}{
		{StorageOpSet, binary.LittleEndian.AppendUint32(bytes.Clone(uid), 1)},
		{StorageOpGet, binary.LittleEndian.AppendUint32(bytes.Clone(uid), 99)},
		{StorageOpGetInfo, uid},
		{StorageOpRemove, uid},
		{StorageOpCreate, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(bytes.Clone(uid), 77), 1)},
		{StorageOpSetExtended, binary.LittleEndian.AppendUint32(bytes.Clone(uid), 99)},
	} {
		b := AppendStorageHeader(nil, c.op, h)
		if !bytes.Equal(b, c.want) {
			t.Fatalf("op %d: %x, want %x", c.op, b, c.want)
		}
		got, err := ParseStorageHeader(c.op, b)
		if err != nil || !bytes.Equal(AppendStorageHeader(nil, c.op, got), b) {
			t.Fatalf("op %d: %+v %v", c.op, got, err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := ParseStorageHeader(c.op, b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("op %d: prefix %d: %v", c.op, n, err)
			}
		}
		if _, err := ParseStorageHeader(c.op, append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("op %d: trailing byte: %v", c.op, err)
		}
	}
	if b := AppendStorageHeader(nil, StorageOpGetSupport, h); b != nil {
		t.Fatalf("get_support has no header: %x", b)
	}
	if _, err := ParseStorageHeader(StorageOpGetSupport, nil); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func FuzzParseStorageHeader(f *testing.F) {
	for _, op := range []StorageOp{StorageOpSet, StorageOpGet, StorageOpGetInfo, StorageOpCreate, StorageOpSetExtended} {
		f.Add(int32(op), AppendStorageHeader(nil, op, StorageHeader{UID: 5, Flags: 4, Offset: 3, Capacity: 9}))
	}
	f.Fuzz(func(t *testing.T, op int32, b []byte) {
		h, err := ParseStorageHeader(StorageOp(op), b)
		if err == nil && !bytes.Equal(AppendStorageHeader(nil, StorageOp(op), h), b) {
			t.Fatalf("op %d: re-encoding differs from %x", op, b)
		}
	})
}

func TestFWUHeader(t *testing.T) {
	h := FWUHeader{Component: 1, Offset: 0x1000, Error: int32(ErrInvalidSignature)}
	for _, c := range []struct {
		op   FWUOp
		want []byte
	}{
		{FWUOpQuery, []byte{1}},
		{FWUOpStart, []byte{1}},
		{FWUOpWrite, binary.LittleEndian.AppendUint32([]byte{1}, 0x1000)},
		{FWUOpFinish, []byte{1}},
		{FWUOpCancel, []byte{1}},
		{FWUOpClean, []byte{1}},
		{FWUOpReject, binary.LittleEndian.AppendUint32(nil, uint32(h.Error))},
	} {
		b := AppendFWUHeader(nil, c.op, h)
		if !bytes.Equal(b, c.want) {
			t.Fatalf("op %d: %x, want %x", c.op, b, c.want)
		}
		got, err := ParseFWUHeader(c.op, b)
		if err != nil || !bytes.Equal(AppendFWUHeader(nil, c.op, got), b) {
			t.Fatalf("op %d: %+v %v", c.op, got, err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := ParseFWUHeader(c.op, b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("op %d: prefix %d: %v", c.op, n, err)
			}
		}
		if _, err := ParseFWUHeader(c.op, append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("op %d: trailing byte: %v", c.op, err)
		}
	}
	for _, op := range []FWUOp{FWUOpInstall, FWUOpRequestReboot, FWUOpAccept} {
		if b := AppendFWUHeader(nil, op, h); b != nil {
			t.Fatalf("op %d has no header: %x", op, b)
		}
		if _, err := ParseFWUHeader(op, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("op %d: %v", op, err)
		}
	}
}

func FuzzParseFWUHeader(f *testing.F) {
	for _, op := range []FWUOp{FWUOpQuery, FWUOpWrite, FWUOpReject} {
		f.Add(int32(op), AppendFWUHeader(nil, op, FWUHeader{Component: 2, Offset: 512, Error: -1}))
	}
	f.Fuzz(func(t *testing.T, op int32, b []byte) {
		h, err := ParseFWUHeader(FWUOp(op), b)
		if err == nil && !bytes.Equal(AppendFWUHeader(nil, FWUOp(op), h), b) {
			t.Fatalf("op %d: re-encoding differs from %x", op, b)
		}
	})
}

func TestScalarVectors(t *testing.T) {
	check := func(name string, b []byte, parse func([]byte) error) {
		t.Helper()
		if err := parse(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n := 0; n < len(b); n++ {
			if err := parse(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: prefix %d: %v", name, n, err)
			}
		}
		if err := parse(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: trailing byte: %v", name, err)
		}
	}
	check("u16", AppendUint16(nil, 0x0102), func(b []byte) error {
		v, err := ParseUint16(b)
		if err == nil && v != 0x0102 {
			t.Fatalf("u16 %x", v)
		}
		return err
	})
	check("u32", AppendUint32(nil, 0x01020304), func(b []byte) error {
		v, err := ParseUint32(b)
		if err == nil && v != 0x01020304 {
			t.Fatalf("u32 %x", v)
		}
		return err
	})
	check("u64", AppendUint64(nil, 0x0102030405060708), func(b []byte) error {
		v, err := ParseUint64(b)
		if err == nil && v != 0x0102030405060708 {
			t.Fatalf("u64 %x", v)
		}
		return err
	})
	if !bytes.Equal(AppendUint32(nil, 1), []byte{1, 0, 0, 0}) {
		t.Fatal("scalars are little-endian")
	}
}

func TestHashMapping(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		a, err := HashAlgorithm(h)
		if err != nil || a.CryptoHash() != h || !a.IsHash() {
			t.Errorf("%v: 0x%08x %v", h, a, err)
		}
	}
	if _, err := HashAlgorithm(crypto.MD5); !errors.Is(err, ErrNotSupported) {
		t.Error("MD5 mapped")
	}
	for _, a := range []Algorithm{AlgNone, AlgAnyHash, AlgGCM, AlgECDSA(AlgSHA256), 0x02000011} {
		if a.CryptoHash() != 0 {
			t.Errorf("0x%08x maps to a Go hash", a)
		}
	}
}

// ecdsaFromASN1Reference is the big.Int conversion ECDSASignatureFromASN1
// replaced, kept as the oracle of the differential fuzz target below.
func ecdsaFromASN1Reference(der []byte, size int) ([]byte, bool) {
	var seq cryptobyte.String
	in := cryptobyte.String(der)
	r, s := new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return nil, false
	}
	if r.Sign() < 0 || s.Sign() < 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, false
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, true
}

func FuzzECDSASignatureFromASN1(f *testing.F) {
	raw := append(bytes.Repeat([]byte{0}, 31), 1)
	raw = append(raw, bytes.Repeat([]byte{0x80}, 32)...)
	der, _ := ECDSASignatureToASN1(raw)
	f.Add(der, 32)
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}, 32) // r = s = 0
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x01}, 32) // r negative
	f.Add([]byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01}, 32)
	f.Fuzz(func(t *testing.T, der []byte, size int) {
		if size < 1 || size > 66 {
			return
		}
		got, err := ECDSASignatureFromASN1(der, size)
		want, ok := ecdsaFromASN1Reference(der, size)
		if (err == nil) != ok || !bytes.Equal(got, want) {
			t.Fatalf("%x (size %d): got %x %v, reference %x %v", der, size, got, err, want, ok)
		}
	})
}
