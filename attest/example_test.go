package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"rampart/attest"
	"rampart/swcomponent"
)

// A device signs a token over the verifier's challenge; the verifier checks
// it against the device's endorsed key.
func Example() {
	iak, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // inside the SPE: a crypto.Signer
	challenge := bytes.Repeat([]byte{0x2a}, 32)

	token, err := attest.Sign(&attest.Claims{
		Profile:          attest.ProfileRFC9783,
		Nonce:            challenge,
		ImplementationID: bytes.Repeat([]byte{0x11}, 32),
		ClientID:         -1,
		Lifecycle:        attest.LifecycleSecured,
		SoftwareComponents: []swcomponent.Component{{
			MeasurementType:  "BL",
			MeasurementValue: bytes.Repeat([]byte{0x22}, 32),
			Version:          "1.2.3",
			SignerID:         bytes.Repeat([]byte{0x33}, 32),
		}},
	}, iak, rand.Reader)
	if err != nil {
		panic(err)
	}

	var fleet attest.EndorsementList
	fleet.Add(attest.Endorsement{PublicKey: &iak.PublicKey})
	claims, err := attest.Verify(token, attest.VerifyOptions{Lookup: fleet.Lookup, Nonce: challenge})
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Profile, claims.Lifecycle, claims.SoftwareComponents[0].Version)
	// Output: tag:psacertified.org,2023:psa#tfm secured 1.2.3
}
