package provision

import (
	"crypto/ecdsa"

	"rampart/attest"
)

// The signed endorsement format is attest's (attest.SignEndorsements, a
// tagged COSE_Sign1 over the list file): the factory writes exactly what the
// fleet server imports. These names remain for callers holding one
// manufacturer key.

// ErrEndorsementSignature is returned when a signed endorsement list does
// not verify with the manufacturer's key (it is attest.ErrSignature).
var ErrEndorsementSignature = attest.ErrSignature

// MaxSigned bounds a signed endorsement list (attest.MaxSignedEndorsementsSize).
const MaxSigned = attest.MaxSignedEndorsementsSize

// VerifyEndorsements checks a signed endorsement list with the
// manufacturer's public key and returns the list and its JSON bytes
// (attest.VerifySignedEndorsements).
func VerifyEndorsements(signed []byte, mfr *ecdsa.PublicKey) (*attest.EndorsementList, []byte, error) {
	s, err := attest.VerifySignedEndorsements(signed, mfr)
	if err != nil {
		return nil, nil, err
	}
	return s.List, s.Payload, nil
}
