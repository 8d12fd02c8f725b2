package psa

// AttestSID and AttestVersion identify the Initial Attestation service (TF-M's SID).
const (
	AttestSID     = 0x00000020
	AttestVersion = 1
)

// Challenge sizes accepted by the Initial Attestation service
// (PSA_INITIAL_ATTEST_CHALLENGE_SIZE_32/48/64).
const (
	AttestChallengeSize32 = 32
	AttestChallengeSize48 = 48
	AttestChallengeSize64 = 64
)

// AttestOp is a call type of the attestation service:
//
//	get_token:      in0 = challenge; in1 (optional) = u8 profile; out0 = token
//	get_token_size: in0 = u32 challenge size; in1 (optional) = u8 profile; out0 = u32 size
//	                (both u32 are scalar vectors: AppendUint32, ParseUint32)
//	get_public_key: out0 = the IAK's uncompressed point (a Rampart extension)
type AttestOp int32

// Attestation operations.
const (
	AttestOpGetToken     AttestOp = 1
	AttestOpGetTokenSize AttestOp = 2
	AttestOpGetPublicKey AttestOp = 3
)

// AttestProfile selects a token profile.
type AttestProfile uint8

// Token profiles.
const (
	AttestProfileRFC9783 AttestProfile = 0 // tag:psacertified.org,2023:psa#tfm
	AttestProfileIoT1    AttestProfile = 1 // PSA_IOT_PROFILE_1
)
