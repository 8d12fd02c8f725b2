package attest

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"rampart/swcomponent"
)

var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic, IndefLength: cbor.IndefLengthForbidden}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// MarshalPayload validates c and encodes it as the CBOR claims map of its
// profile (deterministic encoding: preferred sizes, sorted keys). It is the
// COSE_Sign1 payload of a token.
func (c *Claims) MarshalPayload() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := c.Profile
	if p == "" {
		p = ProfileRFC9783
	}
	k := p.keys()
	m := map[int64]any{
		k.profile:    string(p),
		k.nonce:      c.Nonce,
		k.instanceID: c.InstanceID,
		k.implID:     c.ImplementationID,
		k.clientID:   c.ClientID,
		k.lifecycle:  uint16(c.Lifecycle),
	}
	if len(c.BootSeed) > 0 {
		m[k.bootSeed] = c.BootSeed
	}
	if c.CertificationReference != "" {
		m[k.certRef] = c.CertificationReference
	}
	if c.VerificationService != "" {
		m[k.vsi] = c.VerificationService
	}
	if c.KeyFuses != nil {
		m[KeyFusesClaim] = c.KeyFuses.cborMap()
	}
	if c.NoSoftwareMeasurements {
		m[k.noSwMeasurements] = uint(1)
	} else {
		// Components in swcomponent's deterministic layout, as they are.
		scs := make([]cbor.RawMessage, len(c.SoftwareComponents))
		for i := range c.SoftwareComponents {
			scs[i] = c.SoftwareComponents[i].Append(nil, swcomponent.Deterministic)
		}
		m[k.swComponents] = scs
	}
	b, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding claims: %w", err)
	}
	return b, nil
}
