package main

/*
#include "psa/crypto_struct.h"
*/
import "C"

import (
	"unsafe"

	"rampart/psa"
)

// Operation objects: handle is the SPE's operation number (0: inactive);
// state holds the library's phase flags below; alg the setup algorithm.
const (
	stError    = 1 << 0 // a call failed: only abort is allowed (PSA 1.0)
	stIVSet    = 1 << 1 // cipher: IV given or generated; AEAD: nonce
	stLengths  = 1 << 2 // AEAD: lengths set
	stData     = 1 << 3 // AEAD: update called (no more additional data)
	stAD       = 1 << 4 // AEAD: update_ad called
	stDecrypt  = 1 << 5 // cipher/AEAD: a decryption
	stNeedsIV  = 1 << 6 // cipher: the algorithm takes an IV
	stUpdated  = 1 << 7 // cipher: update called
	stLenCheck = 1 << 8 // AEAD: the algorithm needs set_lengths before data (CCM)
)

type cop = C.struct_psa_rampart_operation_s

// setup runs a setup call into an inactive operation object.
func setup(o *cop, op psa.Op, h *psa.CryptoHeader, state C.uint32_t) C.psa_status_t {
	if o.handle != 0 {
		return status(psa.ErrBadState)
	}
	out, st := cryptoCall(op, h, nil, 4)
	if st != psa.Success {
		return status(st)
	}
	id, err := psa.ParseUint32(out[0])
	if err != nil || id == 0 {
		return status(psa.ErrCommunicationFailure)
	}
	o.handle, o.alg, o.state, o.aux = C.uint32_t(id), C.psa_algorithm_t(h.Alg), C.uint32_t(state), 0
	return 0
}

// active reports whether o may take a call other than abort.
func active(o *cop) bool { return o != nil && o.handle != 0 && o.state&stError == 0 }

// opCall runs one call on an active operation; a failure puts it in the
// error state, where only abort is allowed.
func opCall(o *cop, op psa.Op, data [][]byte, outSize ...int) ([][]byte, psa.Status) {
	if !active(o) {
		return nil, psa.ErrBadState
	}
	out, st := cryptoCall(op, &psa.CryptoHeader{Operation: psa.OperationID(o.handle)}, data, outSize...)
	if st != psa.Success {
		o.state |= stError
	}
	return out, st
}

// finished marks o inactive after a call that ended the SPE's operation.
func finished(o *cop) { o.handle, o.state, o.alg, o.aux = 0, 0, 0, 0 }

// abort ends o in the SPE (an operation the SPE already ended answers
// BAD_STATE there, which is not the caller's concern) and resets it.
func abort(o *cop, op psa.Op) C.psa_status_t {
	if o == nil {
		return status(psa.ErrInvalidArgument)
	}
	if o.handle == 0 {
		return 0
	}
	_, st := cryptoCall(op, &psa.CryptoHeader{Operation: psa.OperationID(o.handle)}, nil)
	finished(o)
	if st == psa.ErrBadState {
		st = psa.Success
	}
	return status(st)
}

// ---- hash ----

//export psa_hash_setup
func psa_hash_setup(o *C.psa_hash_operation_t, alg C.psa_algorithm_t) C.psa_status_t {
	return setup(opOf(o), psa.OpHashSetup, &psa.CryptoHeader{Alg: psa.Algorithm(alg)}, 0)
}

//export psa_hash_update
func psa_hash_update(o *C.psa_hash_operation_t, input *C.uint8_t, n C.size_t) C.psa_status_t {
	_, st := opCall(opOf(o), psa.OpHashUpdate, [][]byte{u8(input, n)})
	return status(st)
}

//export psa_hash_finish
func psa_hash_finish(o *C.psa_hash_operation_t, hash *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	out, st := opCall(opOf(o), psa.OpHashFinish, nil, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	finished(opOf(o))
	return putOut(hash, size, length, out[0])
}

//export psa_hash_verify
func psa_hash_verify(o *C.psa_hash_operation_t, hash *C.uint8_t, n C.size_t) C.psa_status_t {
	_, st := opCall(opOf(o), psa.OpHashVerify, [][]byte{u8(hash, n)})
	if st == psa.Success {
		finished(opOf(o))
	}
	return status(st)
}

//export psa_hash_abort
func psa_hash_abort(o *C.psa_hash_operation_t) C.psa_status_t { return abort(opOf(o), psa.OpHashAbort) }

//export psa_hash_clone
func psa_hash_clone(src *C.psa_hash_operation_t, dst *C.psa_hash_operation_t) C.psa_status_t {
	if src == nil || dst == nil {
		return status(psa.ErrInvalidArgument)
	}
	if !active(opOf(src)) || opOf(dst).handle != 0 {
		return status(psa.ErrBadState)
	}
	out, st := cryptoCall(psa.OpHashClone, &psa.CryptoHeader{Operation: psa.OperationID(opOf(src).handle)}, nil, 4)
	if st != psa.Success {
		return status(st)
	}
	id, err := psa.ParseUint32(out[0])
	if err != nil || id == 0 {
		return status(psa.ErrCommunicationFailure)
	}
	d := opOf(dst)
	*d = *opOf(src)
	d.handle = C.uint32_t(id)
	return 0
}

//export psa_hash_suspend
func psa_hash_suspend(o *C.psa_hash_operation_t, state *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if !active(opOf(o)) {
		return status(psa.ErrBadState)
	}
	return status(psa.ErrNotSupported)
}

//export psa_hash_resume
func psa_hash_resume(o *C.psa_hash_operation_t, state *C.uint8_t, n C.size_t) C.psa_status_t {
	if opOf(o).handle != 0 {
		return status(psa.ErrBadState)
	}
	return status(psa.ErrNotSupported)
}

// ---- MAC ----

func macSetup(o *C.psa_mac_operation_t, op psa.Op, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return setup(opOf(o), op, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, 0)
}

//export psa_mac_sign_setup
func psa_mac_sign_setup(o *C.psa_mac_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return macSetup(o, psa.OpMACSignSetup, key, alg)
}

//export psa_mac_verify_setup
func psa_mac_verify_setup(o *C.psa_mac_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	st := macSetup(o, psa.OpMACVerifySetup, key, alg)
	if st == 0 {
		opOf(o).state |= stDecrypt
	}
	return st
}

//export psa_mac_update
func psa_mac_update(o *C.psa_mac_operation_t, input *C.uint8_t, n C.size_t) C.psa_status_t {
	_, st := opCall(opOf(o), psa.OpMACUpdate, [][]byte{u8(input, n)})
	return status(st)
}

//export psa_mac_sign_finish
func psa_mac_sign_finish(o *C.psa_mac_operation_t, mac *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if active(opOf(o)) && opOf(o).state&stDecrypt != 0 {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpMACSignFinish, nil, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	finished(opOf(o))
	return putOut(mac, size, length, out[0])
}

//export psa_mac_verify_finish
func psa_mac_verify_finish(o *C.psa_mac_operation_t, mac *C.uint8_t, n C.size_t) C.psa_status_t {
	if active(opOf(o)) && opOf(o).state&stDecrypt == 0 {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	_, st := opCall(opOf(o), psa.OpMACVerifyFinish, [][]byte{u8(mac, n)})
	if st == psa.Success {
		finished(opOf(o))
	}
	return status(st)
}

//export psa_mac_abort
func psa_mac_abort(o *C.psa_mac_operation_t) C.psa_status_t { return abort(opOf(o), psa.OpMACAbort) }

// ---- unauthenticated cipher ----

func cipherSetup(o *C.psa_cipher_operation_t, op psa.Op, key C.psa_key_id_t, alg C.psa_algorithm_t, state C.uint32_t) C.psa_status_t {
	return setup(opOf(o), op, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, state)
}

//export psa_cipher_encrypt_setup
func psa_cipher_encrypt_setup(o *C.psa_cipher_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return cipherSetup(o, psa.OpCipherEncryptSetup, key, alg, 0)
}

//export psa_cipher_decrypt_setup
func psa_cipher_decrypt_setup(o *C.psa_cipher_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return cipherSetup(o, psa.OpCipherDecryptSetup, key, alg, stDecrypt)
}

//export psa_cipher_generate_iv
func psa_cipher_generate_iv(o *C.psa_cipher_operation_t, iv *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if active(opOf(o)) && (opOf(o).state&(stIVSet|stDecrypt|stUpdated) != 0) {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpCipherGenerateIV, nil, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	opOf(o).state |= stIVSet
	return putOut(iv, size, length, out[0])
}

//export psa_cipher_set_iv
func psa_cipher_set_iv(o *C.psa_cipher_operation_t, iv *C.uint8_t, n C.size_t) C.psa_status_t {
	if active(opOf(o)) && (opOf(o).state&(stIVSet|stUpdated) != 0) {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	_, st := opCall(opOf(o), psa.OpCipherSetIV, [][]byte{u8(iv, n)})
	if st == psa.Success {
		opOf(o).state |= stIVSet
	}
	return status(st)
}

//export psa_cipher_update
func psa_cipher_update(o *C.psa_cipher_operation_t, input *C.uint8_t, n C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	out, st := opCall(opOf(o), psa.OpCipherUpdate, [][]byte{u8(input, n)}, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	opOf(o).state |= stUpdated
	return putOut(output, size, length, out[0])
}

//export psa_cipher_finish
func psa_cipher_finish(o *C.psa_cipher_operation_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	out, st := opCall(opOf(o), psa.OpCipherFinish, nil, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	finished(opOf(o))
	return putOut(output, size, length, out[0])
}

//export psa_cipher_abort
func psa_cipher_abort(o *C.psa_cipher_operation_t) C.psa_status_t {
	return abort(opOf(o), psa.OpCipherAbort)
}

// ---- AEAD ----

//export psa_aead_encrypt_setup
func psa_aead_encrypt_setup(o *C.psa_aead_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return setup(opOf(o), psa.OpAEADEncryptSetup, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, 0)
}

//export psa_aead_decrypt_setup
func psa_aead_decrypt_setup(o *C.psa_aead_operation_t, key C.psa_key_id_t, alg C.psa_algorithm_t) C.psa_status_t {
	return setup(opOf(o), psa.OpAEADDecryptSetup, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, stDecrypt)
}

// aeadOrder refuses a call out of the order the specification sets, putting
// the operation in its error state.
func aeadOrder(o *cop, bad C.uint32_t) bool {
	if active(o) && o.state&bad != 0 {
		o.state |= stError
		return false
	}
	return true
}

//export psa_aead_generate_nonce
func psa_aead_generate_nonce(o *C.psa_aead_operation_t, nonce *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if !aeadOrder(opOf(o), stIVSet|stDecrypt|stAD|stData) {
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpAEADGenerateNonce, nil, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	opOf(o).state |= stIVSet
	return putOut(nonce, size, length, out[0])
}

//export psa_aead_set_nonce
func psa_aead_set_nonce(o *C.psa_aead_operation_t, nonce *C.uint8_t, n C.size_t) C.psa_status_t {
	if !aeadOrder(opOf(o), stIVSet|stAD|stData) {
		return status(psa.ErrBadState)
	}
	_, st := opCall(opOf(o), psa.OpAEADSetNonce, [][]byte{u8(nonce, n)})
	if st == psa.Success {
		opOf(o).state |= stIVSet
	}
	return status(st)
}

//export psa_aead_set_lengths
func psa_aead_set_lengths(o *C.psa_aead_operation_t, adLength C.size_t, ptLength C.size_t) C.psa_status_t {
	if !aeadOrder(opOf(o), stLengths|stAD|stData) {
		return status(psa.ErrBadState)
	}
	_, st := opCall(opOf(o), psa.OpAEADSetLengths, [][]byte{psa.AppendUint64(nil, uint64(adLength)), psa.AppendUint64(nil, uint64(ptLength))})
	if st == psa.Success {
		opOf(o).state |= stLengths
	}
	return status(st)
}

//export psa_aead_update_ad
func psa_aead_update_ad(o *C.psa_aead_operation_t, input *C.uint8_t, n C.size_t) C.psa_status_t {
	if active(opOf(o)) && (opOf(o).state&stIVSet == 0 || opOf(o).state&stData != 0) {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	_, st := opCall(opOf(o), psa.OpAEADUpdateAD, [][]byte{u8(input, n)})
	if st == psa.Success {
		opOf(o).state |= stAD
	}
	return status(st)
}

//export psa_aead_update
func psa_aead_update(o *C.psa_aead_operation_t, input *C.uint8_t, n C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if active(opOf(o)) && opOf(o).state&stIVSet == 0 {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpAEADUpdate, [][]byte{u8(input, n)}, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	opOf(o).state |= stData
	return putOut(output, size, length, out[0])
}

//export psa_aead_finish
func psa_aead_finish(o *C.psa_aead_operation_t, ct *C.uint8_t, ctSize C.size_t, ctLength *C.size_t, tag *C.uint8_t, tagSize C.size_t, tagLength *C.size_t) C.psa_status_t {
	if ctLength != nil {
		*ctLength = 0
	}
	if tagLength != nil {
		*tagLength = 0
	}
	if active(opOf(o)) && (opOf(o).state&stDecrypt != 0 || opOf(o).state&stIVSet == 0) {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpAEADFinish, nil, outSize(ctSize), outSize(tagSize))
	if st != psa.Success {
		return status(st)
	}
	finished(opOf(o))
	if st := putOut(ct, ctSize, ctLength, out[0]); st != 0 {
		return st
	}
	return putOut(tag, tagSize, tagLength, out[1])
}

//export psa_aead_verify
func psa_aead_verify(o *C.psa_aead_operation_t, pt *C.uint8_t, ptSize C.size_t, ptLength *C.size_t, tag *C.uint8_t, tagLength C.size_t) C.psa_status_t {
	if ptLength != nil {
		*ptLength = 0
	}
	if active(opOf(o)) && (opOf(o).state&stDecrypt == 0 || opOf(o).state&stIVSet == 0) {
		opOf(o).state |= stError
		return status(psa.ErrBadState)
	}
	out, st := opCall(opOf(o), psa.OpAEADVerify, [][]byte{u8(tag, tagLength)}, outSize(ptSize))
	if st != psa.Success {
		return status(st)
	}
	finished(opOf(o))
	return putOut(pt, ptSize, ptLength, out[0])
}

//export psa_aead_abort
func psa_aead_abort(o *C.psa_aead_operation_t) C.psa_status_t { return abort(opOf(o), psa.OpAEADAbort) }

// operation is any of the five operation objects: they share one layout
// (crypto_struct.h's PSA_RAMPART_OPERATION_FIELDS).
type operation interface {
	*C.psa_hash_operation_t | *C.psa_mac_operation_t | *C.psa_cipher_operation_t |
		*C.psa_aead_operation_t | *C.psa_key_derivation_operation_t
}

// opOf views an operation object as the common layout.
func opOf[T operation](o T) *cop { return (*cop)(unsafe.Pointer(o)) }
