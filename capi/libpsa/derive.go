package main

/*
#include "psa/crypto_struct.h"
*/
import "C"

import (
	"rampart/psa"
)

//export psa_key_derivation_setup
func psa_key_derivation_setup(o *C.psa_key_derivation_operation_t, alg C.psa_algorithm_t) C.psa_status_t {
	return setup(opOf(o), psa.OpKDFSetup, &psa.CryptoHeader{Alg: psa.Algorithm(alg)}, 0)
}

//export psa_key_derivation_get_capacity
func psa_key_derivation_get_capacity(o *C.psa_key_derivation_operation_t, capacity *C.size_t) C.psa_status_t {
	if capacity == nil {
		return status(psa.ErrInvalidArgument)
	}
	*capacity = 0
	if !active(opOf(o)) {
		return status(psa.ErrBadState)
	}
	out, st := cryptoCall(psa.OpKDFGetCapacity, &psa.CryptoHeader{Operation: psa.OperationID(opOf(o).handle)}, nil, 8)
	if st != psa.Success {
		return status(st)
	}
	v, err := psa.ParseUint64(out[0])
	if err != nil {
		return status(psa.ErrCommunicationFailure)
	}
	*capacity = C.size_t(v)
	return 0
}

//export psa_key_derivation_set_capacity
func psa_key_derivation_set_capacity(o *C.psa_key_derivation_operation_t, capacity C.size_t) C.psa_status_t {
	_, st := opCallKeep(opOf(o), psa.OpKDFSetCapacity, 0, [][]byte{psa.AppendUint64(nil, uint64(capacity))})
	return status(st)
}

//export psa_key_derivation_input_bytes
func psa_key_derivation_input_bytes(o *C.psa_key_derivation_operation_t, step C.psa_key_derivation_step_t, data *C.uint8_t, n C.size_t) C.psa_status_t {
	_, st := opCall(opOf(o), psa.OpKDFInputBytes, [][]byte{psa.AppendUint32(nil, uint32(step)), u8(data, n)})
	return status(st)
}

//export psa_key_derivation_input_key
func psa_key_derivation_input_key(o *C.psa_key_derivation_operation_t, step C.psa_key_derivation_step_t, key C.psa_key_id_t) C.psa_status_t {
	_, st := opCallKeep(opOf(o), psa.OpKDFInputKey, psa.KeyID(key), [][]byte{psa.AppendUint32(nil, uint32(step))})
	return status(st)
}

//export psa_key_derivation_key_agreement
func psa_key_derivation_key_agreement(o *C.psa_key_derivation_operation_t, step C.psa_key_derivation_step_t, key C.psa_key_id_t, peer *C.uint8_t, n C.size_t) C.psa_status_t {
	_, st := opCallKeep(opOf(o), psa.OpKDFKeyAgreement, psa.KeyID(key), [][]byte{psa.AppendUint32(nil, uint32(step)), u8(peer, n)})
	return status(st)
}

//export psa_key_derivation_output_bytes
func psa_key_derivation_output_bytes(o *C.psa_key_derivation_operation_t, output *C.uint8_t, n C.size_t) C.psa_status_t {
	if uint64(n) > maxOut {
		return status(psa.ErrNotSupported)
	}
	out, st := opCall(opOf(o), psa.OpKDFOutputBytes, nil, int(n))
	if st != psa.Success {
		return status(st)
	}
	if len(out[0]) != int(n) {
		return status(psa.ErrCommunicationFailure)
	}
	copy(u8(output, n), out[0])
	return 0
}

//export psa_key_derivation_output_key
func psa_key_derivation_output_key(attributes *C.psa_key_attributes_t, o *C.psa_key_derivation_operation_t, key *C.psa_key_id_t) C.psa_status_t {
	if attributes == nil || key == nil {
		return status(psa.ErrInvalidArgument)
	}
	*key = 0
	if !active(opOf(o)) {
		return status(psa.ErrBadState)
	}
	h := &psa.CryptoHeader{Operation: psa.OperationID(opOf(o).handle), Attributes: attrsFromC(attributes)}
	out, st := cryptoCall(psa.OpKDFOutputKey, h, nil, 4)
	if st != psa.Success {
		if st != psa.ErrInsufficientData && st != psa.ErrInvalidArgument && st != psa.ErrNotSupported && st != psa.ErrAlreadyExists && st != psa.ErrNotPermitted {
			opOf(o).state |= stError
		}
		return status(st)
	}
	id, err := psa.ParseUint32(out[0])
	if err != nil {
		return status(psa.ErrCommunicationFailure)
	}
	*key = C.psa_key_id_t(id)
	return 0
}

//export psa_key_derivation_abort
func psa_key_derivation_abort(o *C.psa_key_derivation_operation_t) C.psa_status_t {
	return abort(opOf(o), psa.OpKDFAbort)
}

// opCallKeep is opCall for calls whose refusal of an argument (a key of the
// wrong type or policy, a capacity too large) leaves the operation as it
// was, as the SPE does; other failures put it in the error state.
func opCallKeep(o *cop, op psa.Op, key psa.KeyID, data [][]byte, outSize ...int) ([][]byte, psa.Status) {
	if !active(o) {
		return nil, psa.ErrBadState
	}
	out, st := cryptoCall(op, &psa.CryptoHeader{Key: key, Operation: psa.OperationID(o.handle)}, data, outSize...)
	switch st {
	case psa.Success, psa.ErrInvalidArgument, psa.ErrNotPermitted, psa.ErrInvalidHandle, psa.ErrNotSupported:
	default:
		o.state |= stError
	}
	return out, st
}
