package attest

import (
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// decMode is strict where RFC 9783 is (definite lengths only, no duplicate
// map keys) and tolerant where it asks verifiers to be (non-preferred integer
// and length encodings are accepted).
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: 1024,
		MaxMapPairs:      1024,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

const namePayload = "payload"

// CBOR major types, from the top three bits of an item's first byte.
const (
	majorUint  = 0
	majorNint  = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
)

func major(raw []byte) int { return int(raw[0] >> 5) }

var majorNames = [...]string{"unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value or float"}

func wrongType(name string, raw []byte, want string) error {
	return claimErr(name, ErrClaimSyntax, "%s, want %s", majorNames[major(raw)], want)
}

// UnmarshalPayload decodes a claims map (a token's COSE payload), finds its
// profile and checks every known claim's syntax. Unknown claims are ignored.
// It returns a *ClaimError naming the claim at fault.
func UnmarshalPayload(payload []byte) (*Claims, error) {
	m, err := decodeClaimsMap(payload)
	if err != nil {
		return nil, err
	}
	p, err := detectProfile(m)
	if err != nil {
		return nil, err
	}
	k := p.keys()
	c := &Claims{Profile: p}
	if c.Nonce, err = getBytes(m, k.nonce, nameNonce, true); err != nil {
		return nil, err
	}
	if c.InstanceID, err = getBytes(m, k.instanceID, nameInstanceID, true); err != nil {
		return nil, err
	}
	if c.ImplementationID, err = getBytes(m, k.implID, nameImplID, true); err != nil {
		return nil, err
	}
	raw, ok := m[k.clientID]
	if !ok {
		return nil, missing(nameClientID)
	}
	id, err := decodeInt(nameClientID, raw)
	if err != nil {
		return nil, err
	}
	if id < math.MinInt32 || id > math.MaxInt32 {
		return nil, claimErr(nameClientID, ErrClaimSyntax, "%d does not fit in 32 bits", id)
	}
	c.ClientID = int32(id)
	if raw, ok = m[k.lifecycle]; !ok {
		return nil, missing(nameLifecycle)
	}
	if major(raw) != majorUint {
		return nil, wrongType(nameLifecycle, raw, "unsigned integer")
	}
	lc, err := decodeInt(nameLifecycle, raw)
	if err != nil {
		return nil, err
	}
	if lc > math.MaxUint16 {
		return nil, claimErr(nameLifecycle, ErrClaimSyntax, "%d does not fit in 16 bits", lc)
	}
	c.Lifecycle = Lifecycle(lc)
	if c.BootSeed, err = getBytes(m, k.bootSeed, nameBootSeed, false); err != nil {
		return nil, err
	}
	if c.BootSeed != nil && len(c.BootSeed) == 0 {
		return nil, claimErr(nameBootSeed, ErrClaimSyntax, "empty")
	}
	if c.CertificationReference, err = getText(m, k.certRef, nameCertRef); err != nil {
		return nil, err
	}
	if c.VerificationService, err = getText(m, k.vsi, nameVSI); err != nil {
		return nil, err
	}
	if k.noSwMeasurements != 0 {
		if raw, ok := m[k.noSwMeasurements]; ok {
			v, err := decodeInt(nameNoSw, raw)
			if err != nil {
				return nil, err
			}
			if v != 1 {
				return nil, claimErr(nameNoSw, ErrClaimSyntax, "%d, want 1", v)
			}
			c.NoSoftwareMeasurements = true
		}
	}
	if raw, ok := m[k.swComponents]; ok {
		if c.SoftwareComponents, err = decodeComponents(raw); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeClaimsMap splits the payload into its claims, keyed by integer.
// Claims with non-integer keys cannot be PSA claims and are dropped.
func decodeClaimsMap(payload []byte) (map[int64]cbor.RawMessage, error) {
	if len(payload) == 0 {
		return nil, claimErr(namePayload, ErrClaimSyntax, "empty")
	}
	if major(payload) != majorMap {
		return nil, wrongType(namePayload, payload, "map of claims")
	}
	var raw map[any]cbor.RawMessage
	if err := decMode.Unmarshal(payload, &raw); err != nil {
		return nil, claimErr(namePayload, ErrClaimSyntax, "malformed CBOR: %v", err)
	}
	if len(raw) > maxMapPairs {
		return nil, claimErr(namePayload, ErrOversized, "%d claims, limit %d", len(raw), maxMapPairs)
	}
	m := make(map[int64]cbor.RawMessage, len(raw))
	for key, v := range raw {
		switch k := key.(type) {
		case int64:
			m[k] = v
		case uint64:
			if k <= math.MaxInt64 {
				m[int64(k)] = v
			}
		}
	}
	return m, nil
}

func detectProfile(m map[int64]cbor.RawMessage) (Profile, error) {
	if raw, ok := m[keysEAT.profile]; ok {
		s, err := decodeText(nameProfile, raw)
		if err != nil {
			return "", err
		}
		switch p := Profile(s); p {
		case ProfileRFC9783, ProfilePSA2:
			return p, nil
		default:
			return "", fmt.Errorf("%w: claim profile (265) is %q, want %q or %q", ErrProfile, truncate(s), ProfileRFC9783, ProfilePSA2)
		}
	}
	if raw, ok := m[keysIoT1.profile]; ok {
		s, err := decodeText(nameProfile, raw)
		if err != nil {
			return "", err
		}
		if Profile(s) != ProfileIoT1 {
			return "", fmt.Errorf("%w: claim profile (-75000) is %q, want %q", ErrProfile, truncate(s), ProfileIoT1)
		}
		return ProfileIoT1, nil
	}
	// PSA_IOT_PROFILE_1 made the profile claim optional.
	if _, ok := m[keysIoT1.nonce]; ok {
		return ProfileIoT1, nil
	}
	return "", fmt.Errorf("%w: %w", ErrProfile, missing(nameProfile))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func getBytes(m map[int64]cbor.RawMessage, key int64, name string, mandatory bool) ([]byte, error) {
	raw, ok := m[key]
	if !ok {
		if mandatory {
			return nil, missing(name)
		}
		return nil, nil
	}
	return decodeBytes(name, raw)
}

func getText(m map[int64]cbor.RawMessage, key int64, name string) (string, error) {
	raw, ok := m[key]
	if !ok {
		return "", nil
	}
	return decodeText(name, raw)
}

func decodeBytes(name string, raw []byte) ([]byte, error) {
	if major(raw) == majorArray && name == nameNonce {
		return nil, claimErr(name, ErrClaimSyntax, "an array of nonces, want a single byte string")
	}
	if major(raw) != majorBytes {
		return nil, wrongType(name, raw, "byte string")
	}
	var b []byte
	if err := decMode.Unmarshal(raw, &b); err != nil {
		return nil, claimErr(name, ErrClaimSyntax, "%v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func decodeText(name string, raw []byte) (string, error) {
	if major(raw) != majorText {
		return "", wrongType(name, raw, "text string")
	}
	var s string
	if err := decMode.Unmarshal(raw, &s); err != nil {
		return "", claimErr(name, ErrClaimSyntax, "%v", err)
	}
	if len(s) > MaxTextLen {
		return "", claimErr(name, ErrOversized, "%d bytes, limit %d", len(s), MaxTextLen)
	}
	return s, nil
}

func decodeInt(name string, raw []byte) (int64, error) {
	if m := major(raw); m != majorUint && m != majorNint {
		return 0, wrongType(name, raw, "integer")
	}
	var v int64
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return 0, claimErr(name, ErrClaimSyntax, "%v", err)
	}
	return v, nil
}

func decodeComponents(raw []byte) ([]SoftwareComponent, error) {
	if major(raw) != majorArray {
		return nil, wrongType(nameSwComponents, raw, "array of maps")
	}
	var items []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &items); err != nil {
		return nil, claimErr(nameSwComponents, ErrClaimSyntax, "%v", err)
	}
	if len(items) > MaxSoftwareComponents {
		return nil, claimErr(nameSwComponents, ErrOversized, "%d components, limit %d", len(items), MaxSoftwareComponents)
	}
	if len(items) == 0 {
		return nil, claimErr(nameSwComponents, ErrClaimSyntax, "empty array, want at least one component")
	}
	scs := make([]SoftwareComponent, len(items))
	for i, it := range items {
		name := fmt.Sprintf("%s[%d]", nameSwComponents, i)
		if major(it) != majorMap {
			return nil, wrongType(name, it, "map")
		}
		var fm map[any]cbor.RawMessage
		if err := decMode.Unmarshal(it, &fm); err != nil {
			return nil, claimErr(name, ErrClaimSyntax, "%v", err)
		}
		field := func(key int64) (cbor.RawMessage, bool) {
			if v, ok := fm[key]; ok {
				return v, true
			}
			v, ok := fm[uint64(key)]
			return v, ok
		}
		s := &scs[i]
		var err error
		if v, ok := field(swKeyMeasurementType); ok {
			if s.MeasurementType, err = decodeText(name+".measurement-type", v); err != nil {
				return nil, err
			}
		}
		if v, ok := field(swKeyMeasurementValue); ok {
			if s.MeasurementValue, err = decodeBytes(name+".measurement-value", v); err != nil {
				return nil, err
			}
		}
		if v, ok := field(swKeyVersion); ok {
			if s.Version, err = decodeText(name+".version", v); err != nil {
				return nil, err
			}
		}
		if v, ok := field(swKeySignerID); ok {
			if s.SignerID, err = decodeBytes(name+".signer-id", v); err != nil {
				return nil, err
			}
		}
		if v, ok := field(swKeyMeasurementDesc); ok {
			if s.MeasurementDescription, err = decodeText(name+".measurement-description", v); err != nil {
				return nil, err
			}
		}
	}
	return scs, nil
}
