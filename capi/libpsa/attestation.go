package main

/*
#include <stddef.h>
#include <stdint.h>
#include "psa/error.h"
*/
import "C"

import (
	"rampart/psa"
)

// profile is the token profile the C API asks for: PSA_IOT_PROFILE_1, the
// profile of the PSA Initial Attestation API 1.0 and of psa-arch-tests
// v23.06 (RAMPART_PSA_ATTEST_PROFILE=rfc9783 selects the 2023 profile).
func profile() psa.AttestProfile {
	if getenv("RAMPART_PSA_ATTEST_PROFILE") == "rfc9783" {
		return psa.AttestProfileRFC9783
	}
	return psa.AttestProfileIoT1
}

//export psa_initial_attest_get_token
func psa_initial_attest_get_token(challenge *C.uint8_t, challengeSize C.size_t, token *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if challenge == nil && challengeSize > 0 {
		return C.psa_status_t(psa.ErrInvalidArgument)
	}
	out, st := statelessCall(psa.AttestSID, psa.AttestVersion, int32(psa.AttestOpGetToken),
		[][]byte{u8(challenge, challengeSize), {byte(profile())}}, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	return putOut(token, size, length, out[0])
}

//export psa_initial_attest_get_token_size
func psa_initial_attest_get_token_size(challengeSize C.size_t, length *C.size_t) C.psa_status_t {
	if length == nil {
		return C.psa_status_t(psa.ErrInvalidArgument)
	}
	*length = 0
	if uint64(challengeSize) > 0xffffffff {
		return C.psa_status_t(psa.ErrInvalidArgument)
	}
	out, st := statelessCall(psa.AttestSID, psa.AttestVersion, int32(psa.AttestOpGetTokenSize),
		[][]byte{psa.AppendUint32(nil, uint32(challengeSize)), {byte(profile())}}, 4)
	if st != psa.Success {
		return status(st)
	}
	n, err := psa.ParseUint32(out[0])
	if err != nil {
		return C.psa_status_t(psa.ErrCommunicationFailure)
	}
	*length = C.size_t(n)
	return 0
}
