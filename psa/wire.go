package psa

// The crypto service's call layout: a call's type is one of the Op codes,
// input vector 0 carries a small fixed header (CryptoHeader: key ID,
// algorithm, ...), the other vectors carry data. docs/spe-ipc.md lists each
// operation; cryptoLayout below is the one place the header of each is
// defined, for the client that encodes it and the service that decodes it.

// CryptoSID and CryptoVersion identify the crypto service (TF-M's SID).
const (
	CryptoSID     = 0x00000080
	CryptoVersion = 1
)

// Op is a crypto service call type.
type Op int32

// Crypto service operations.
const (
	OpGenerateRandom    Op = 0x0100 // out0 = random bytes (its size is the request)
	OpHashCompute       Op = 0x0200 // in0 = alg; in1 = input; out0 = hash
	OpImportKey         Op = 0x0300 // in0 = attributes; in1 = key data; out0 = id
	OpGenerateKey       Op = 0x0301 // in0 = attributes; out0 = id
	OpExportKey         Op = 0x0302 // in0 = id; out0 = key data
	OpExportPublicKey   Op = 0x0303 // in0 = id; out0 = public key data
	OpCopyKey           Op = 0x0304 // in0 = id, attributes; out0 = new id
	OpDestroyKey        Op = 0x0305 // in0 = id
	OpPurgeKey          Op = 0x0306 // in0 = id
	OpGetKeyAttributes  Op = 0x0307 // in0 = id; out0 = attributes
	OpListKeys          Op = 0x0308 // out0 = attributes of each of the caller's keys
	OpMACCompute        Op = 0x0400 // in0 = id, alg; in1 = input; out0 = mac
	OpMACVerify         Op = 0x0401 // in0 = id, alg; in1 = input; in2 = mac
	OpCipherEncrypt     Op = 0x0500 // in0 = id, alg; in1 = plaintext; out0 = iv || ciphertext
	OpCipherDecrypt     Op = 0x0501 // in0 = id, alg; in1 = iv || ciphertext; out0 = plaintext
	OpAEADEncrypt       Op = 0x0600 // in0 = id, alg, nonce; in1 = aad; in2 = plaintext; out0 = ciphertext || tag
	OpAEADDecrypt       Op = 0x0601 // in0 = id, alg, nonce; in1 = aad; in2 = ciphertext || tag; out0 = plaintext
	OpSignHash          Op = 0x0700 // in0 = id, alg; in1 = hash; out0 = signature
	OpVerifyHash        Op = 0x0701 // in0 = id, alg; in1 = hash; in2 = signature
	OpSignMessage       Op = 0x0702 // in0 = id, alg; in1 = message; out0 = signature
	OpVerifyMessage     Op = 0x0703 // in0 = id, alg; in1 = message; in2 = signature
	OpAsymmetricEncrypt Op = 0x0800 // in0 = id, alg; in1 = input; in2 = salt (OAEP label); out0
	OpAsymmetricDecrypt Op = 0x0801 // in0 = id, alg; in1 = input; in2 = salt (OAEP label); out0
	OpRawKeyAgreement   Op = 0x0900 // in0 = id, alg; in1 = peer public key; out0 = shared secret
	OpDeriveBytes       Op = 0x0a00 // in0 = id, alg, length; in1 = salt; in2 = info; out0 = output
	OpDeriveKey         Op = 0x0a01 // in0 = id, alg, attributes; in1 = salt; in2 = info; out0 = new id
)

// Multi-part operations. An operation lives in the SPE, belongs to the
// connection that started it and ends with finish, verify or abort, or when
// the connection closes.
const (
	OpHashSetup       Op = 0x0210 // in0 = alg; out0 = operation (u32)
	OpHashUpdate      Op = 0x0211 // in0 = operation; in1 = input
	OpHashFinish      Op = 0x0212 // in0 = operation; out0 = hash
	OpHashVerify      Op = 0x0213 // in0 = operation; in1 = expected hash
	OpHashAbort       Op = 0x0214 // in0 = operation
	OpMACSignSetup    Op = 0x0410 // in0 = id, alg; out0 = operation
	OpMACVerifySetup  Op = 0x0411 // in0 = id, alg; out0 = operation
	OpMACUpdate       Op = 0x0412 // in0 = operation; in1 = input
	OpMACSignFinish   Op = 0x0413 // in0 = operation; out0 = mac
	OpMACVerifyFinish Op = 0x0414 // in0 = operation; in1 = mac
	OpMACAbort        Op = 0x0415 // in0 = operation
	OpHashClone       Op = 0x0215 // in0 = operation; out0 = new operation

	OpCipherEncryptSetup Op = 0x0510 // in0 = id, alg; out0 = operation
	OpCipherDecryptSetup Op = 0x0511 // in0 = id, alg; out0 = operation
	OpCipherGenerateIV   Op = 0x0512 // in0 = operation; out0 = iv
	OpCipherSetIV        Op = 0x0513 // in0 = operation; in1 = iv
	OpCipherUpdate       Op = 0x0514 // in0 = operation; in1 = input; out0 = output
	OpCipherFinish       Op = 0x0515 // in0 = operation; out0 = output
	OpCipherAbort        Op = 0x0516 // in0 = operation

	OpAEADEncryptSetup  Op = 0x0610 // in0 = id, alg; out0 = operation
	OpAEADDecryptSetup  Op = 0x0611 // in0 = id, alg; out0 = operation
	OpAEADGenerateNonce Op = 0x0612 // in0 = operation; out0 = nonce
	OpAEADSetNonce      Op = 0x0613 // in0 = operation; in1 = nonce
	OpAEADSetLengths    Op = 0x0614 // in0 = operation; in1 = ad length (u64); in2 = plaintext length (u64)
	OpAEADUpdateAD      Op = 0x0615 // in0 = operation; in1 = additional data
	OpAEADUpdate        Op = 0x0616 // in0 = operation; in1 = input; out0 = output
	OpAEADFinish        Op = 0x0617 // in0 = operation; out0 = ciphertext; out1 = tag
	OpAEADVerify        Op = 0x0618 // in0 = operation; in1 = tag; out0 = plaintext
	OpAEADAbort         Op = 0x0619 // in0 = operation

	OpKDFSetup        Op = 0x0a10 // in0 = alg; out0 = operation
	OpKDFSetCapacity  Op = 0x0a11 // in0 = operation; in1 = capacity (u64)
	OpKDFGetCapacity  Op = 0x0a12 // in0 = operation; out0 = capacity (u64)
	OpKDFInputBytes   Op = 0x0a13 // in0 = operation; in1 = step (u32); in2 = data
	OpKDFInputKey     Op = 0x0a14 // in0 = id, operation; in1 = step (u32)
	OpKDFKeyAgreement Op = 0x0a15 // in0 = id, operation; in1 = step (u32); in2 = peer public key
	OpKDFOutputBytes  Op = 0x0a16 // in0 = operation; out0 = output (as long as out_size)
	OpKDFOutputKey    Op = 0x0a17 // in0 = attributes, operation; out0 = new key id
	OpKDFAbort        Op = 0x0a18 // in0 = operation
)
