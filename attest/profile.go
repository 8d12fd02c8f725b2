package attest

// Profile names a PSA token profile: which claim keys a token uses and which
// syntax rules its claims follow.
type Profile string

// The profiles Rampart produces and verifies.
const (
	// ProfileRFC9783 is the TF-M profile of RFC 9783, EAT-registered keys
	// (nonce 10, ueid 256, boot seed 268, PSA claims 2394..2400).
	ProfileRFC9783 Profile = "tag:psacertified.org,2023:psa#tfm"
	// ProfilePSA2 is the draft-era "http://arm.com/psa/2.0.0" profile TF-M
	// emits: the RFC 9783 keys except the boot seed, at 2397.
	ProfilePSA2 Profile = "http://arm.com/psa/2.0.0"
	// ProfileIoT1 is the legacy PSA_IOT_PROFILE_1 with private-use keys
	// -75000..-75010 (Attestation API 1.0).
	ProfileIoT1 Profile = "PSA_IOT_PROFILE_1"
)

// Profiles lists every profile Rampart accepts, newest first.
var Profiles = []Profile{ProfileRFC9783, ProfilePSA2, ProfileIoT1}

// Known reports whether p is one of the profiles Rampart implements.
func (p Profile) Known() bool {
	for _, q := range Profiles {
		if p == q {
			return true
		}
	}
	return false
}

// claimKeys are the CBOR map keys of one profile's claims. A zero key means
// the profile has no such claim.
type claimKeys struct {
	profile, clientID, lifecycle, implID, bootSeed, certRef, swComponents,
	noSwMeasurements, nonce, instanceID, vsi int64
}

var (
	keysEAT = claimKeys{
		profile: 265, clientID: 2394, lifecycle: 2395, implID: 2396, bootSeed: 268,
		certRef: 2398, swComponents: 2399, nonce: 10, instanceID: 256, vsi: 2400,
	}
	keysPSA2 = claimKeys{
		profile: 265, clientID: 2394, lifecycle: 2395, implID: 2396, bootSeed: 2397,
		certRef: 2398, swComponents: 2399, nonce: 10, instanceID: 256, vsi: 2400,
	}
	keysIoT1 = claimKeys{
		profile: -75000, clientID: -75001, lifecycle: -75002, implID: -75003, bootSeed: -75004,
		certRef: -75005, swComponents: -75006, noSwMeasurements: -75007, nonce: -75008,
		instanceID: -75009, vsi: -75010,
	}
)

func (p Profile) keys() claimKeys {
	switch p {
	case ProfileIoT1:
		return keysIoT1
	case ProfilePSA2:
		return keysPSA2
	default:
		return keysEAT
	}
}
