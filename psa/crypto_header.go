package psa

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// OperationID names a multi-part operation in the SPE: the u32 its setup
// call returns, valid on the connection that started it.
type OperationID uint32

// CryptoHeader is input vector 0 of a crypto call (of every operation but
// generate_random and list_keys): the fields the operation's layout names,
// in the order below, fixed-size and little-endian (attributes in their
// 24-byte encoding), then an AEAD call's nonce as the rest of the vector.
type CryptoHeader struct {
	Key        KeyID         // the key the call uses, copies or derives from
	Alg        Algorithm     // the algorithm of the call
	Length     uint32        // derive_bytes: how many bytes to output
	Attributes KeyAttributes // import, generate: the new key; copy, derive_key: the new key's policy
	Operation  OperationID   // update, finish, verify and abort of a multi-part operation
	Nonce      []byte        // aead_encrypt, aead_decrypt (any length; the service checks it)
}

// cryptoFields is the set of CryptoHeader fields an operation's header holds.
type cryptoFields uint8

const (
	hasKey cryptoFields = 1 << iota
	hasAlg
	hasLength
	hasAttributes
	hasOperation
	hasNonce
)

// cryptoLayout returns the header fields of op, and false for an operation
// without a header (generate_random, list_keys) or an unknown one.
func cryptoLayout(op Op) (cryptoFields, bool) {
	switch op {
	case OpHashCompute, OpHashSetup, OpKDFSetup:
		return hasAlg, true
	case OpImportKey, OpGenerateKey:
		return hasAttributes, true
	case OpExportKey, OpExportPublicKey, OpDestroyKey, OpPurgeKey, OpGetKeyAttributes:
		return hasKey, true
	case OpCopyKey:
		return hasKey | hasAttributes, true
	case OpMACCompute, OpMACVerify, OpCipherEncrypt, OpCipherDecrypt,
		OpSignHash, OpVerifyHash, OpSignMessage, OpVerifyMessage,
		OpAsymmetricEncrypt, OpAsymmetricDecrypt, OpRawKeyAgreement,
		OpMACSignSetup, OpMACVerifySetup,
		OpCipherEncryptSetup, OpCipherDecryptSetup, OpAEADEncryptSetup, OpAEADDecryptSetup:
		return hasKey | hasAlg, true
	case OpAEADEncrypt, OpAEADDecrypt:
		return hasKey | hasAlg | hasNonce, true
	case OpDeriveBytes:
		return hasKey | hasAlg | hasLength, true
	case OpDeriveKey:
		return hasKey | hasAlg | hasAttributes, true
	case OpHashUpdate, OpHashFinish, OpHashVerify, OpHashAbort,
		OpMACUpdate, OpMACSignFinish, OpMACVerifyFinish, OpMACAbort, OpHashClone,
		OpCipherGenerateIV, OpCipherSetIV, OpCipherUpdate, OpCipherFinish, OpCipherAbort,
		OpAEADGenerateNonce, OpAEADSetNonce, OpAEADSetLengths, OpAEADUpdateAD, OpAEADUpdate,
		OpAEADFinish, OpAEADVerify, OpAEADAbort,
		OpKDFSetCapacity, OpKDFGetCapacity, OpKDFInputBytes, OpKDFOutputBytes, OpKDFAbort:
		return hasOperation, true
	case OpKDFInputKey, OpKDFKeyAgreement:
		return hasKey | hasOperation, true
	case OpKDFOutputKey:
		return hasAttributes | hasOperation, true
	}
	return 0, false
}

// fixedSize is the length of a header's fixed fields (the nonce excluded).
func (f cryptoFields) fixedSize() int {
	n := 0
	for _, c := range [...]struct {
		bit  cryptoFields
		size int
	}{{hasKey, 4}, {hasAlg, 4}, {hasLength, 4}, {hasAttributes, AttributesSize}, {hasOperation, 4}} {
		if f&c.bit != 0 {
			n += c.size
		}
	}
	return n
}

// AppendCryptoHeader appends the header of op made of h's fields that op's
// layout names (the others are ignored). For an operation without a header
// it returns b unchanged.
func AppendCryptoHeader(b []byte, op Op, h CryptoHeader) []byte {
	f, ok := cryptoLayout(op)
	if !ok {
		return b
	}
	n := f.fixedSize()
	if f&hasNonce != 0 {
		n += len(h.Nonce)
	}
	b = slices.Grow(b, n)
	le := binary.LittleEndian
	if f&hasKey != 0 {
		b = le.AppendUint32(b, uint32(h.Key))
	}
	if f&hasAlg != 0 {
		b = le.AppendUint32(b, uint32(h.Alg))
	}
	if f&hasLength != 0 {
		b = le.AppendUint32(b, h.Length)
	}
	if f&hasAttributes != 0 {
		b = h.Attributes.appendTo(b)
	}
	if f&hasOperation != 0 {
		b = le.AppendUint32(b, uint32(h.Operation))
	}
	if f&hasNonce != 0 {
		b = append(b, h.Nonce...)
	}
	return b
}

// ParseCryptoHeader decodes input vector 0 of a call of op. The vector must
// be exactly as long as the layout says (any nonce length for AEAD); the
// attributes must decode. Nonce aliases b.
func ParseCryptoHeader(op Op, b []byte) (CryptoHeader, error) {
	var h CryptoHeader
	f, ok := cryptoLayout(op)
	if !ok {
		return h, fmt.Errorf("psa: crypto operation 0x%04x has no header: %w", int32(op), ErrMalformed)
	}
	n := f.fixedSize()
	if len(b) < n || (f&hasNonce == 0 && len(b) != n) {
		return h, fmt.Errorf("psa: crypto header of operation 0x%04x: %d bytes, want %d: %w", int32(op), len(b), n, ErrMalformed)
	}
	le := binary.LittleEndian
	next := func() uint32 {
		v := le.Uint32(b)
		b = b[4:]
		return v
	}
	if f&hasKey != 0 {
		h.Key = KeyID(next())
	}
	if f&hasAlg != 0 {
		h.Alg = Algorithm(next())
	}
	if f&hasLength != 0 {
		h.Length = next()
	}
	if f&hasAttributes != 0 {
		if err := h.Attributes.UnmarshalBinary(b[:AttributesSize]); err != nil {
			return h, fmt.Errorf("psa: crypto header of operation 0x%04x: %w", int32(op), err)
		}
		b = b[AttributesSize:]
	}
	if f&hasOperation != 0 {
		h.Operation = OperationID(next())
	}
	if f&hasNonce != 0 {
		h.Nonce = b
	}
	return h, nil
}
