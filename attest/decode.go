package attest

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"rampart/internal/cborscan"
	"rampart/swcomponent"
)

const namePayload = "payload"

// UnmarshalPayload decodes a claims map (a token's COSE payload), finds its
// profile and checks every known claim's syntax. Unknown claims are ignored.
// It returns a *ClaimError naming the claim at fault. The byte-string claims
// of the result alias payload.
func UnmarshalPayload(payload []byte) (*Claims, error) {
	var buf [16]cborscan.Entry
	m, err := decodeClaimsMap(payload, buf[:0])
	if err != nil {
		return nil, err
	}
	p, err := detectProfile(m)
	if err != nil {
		return nil, err
	}
	return claimsFromMap(m, p)
}

// claimsFromMap is UnmarshalPayload after the map is split and its profile
// found: Verify splits the map once, reads the instance ID from it to find
// the key, and builds the claims from the same split after the signature.
func claimsFromMap(m []cborscan.Entry, p Profile) (*Claims, error) {
	var err error
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
	raw, ok := cborscan.Lookup(m, k.clientID)
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
	if raw, ok = cborscan.Lookup(m, k.lifecycle); !ok {
		return nil, missing(nameLifecycle)
	}
	if major(raw) != cborscan.Uint {
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
		if raw, ok := cborscan.Lookup(m, k.noSwMeasurements); ok {
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
	if raw, ok := cborscan.Lookup(m, k.swComponents); ok {
		if c.SoftwareComponents, err = decodeComponents(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := cborscan.Lookup(m, KeyFusesClaim); ok {
		if c.KeyFuses, err = decodeKeyFuses(raw); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeClaimsMap splits the payload into its claims. Claims with
// non-integer keys cannot be PSA claims and are never looked up.
func decodeClaimsMap(payload []byte, dst []cborscan.Entry) ([]cborscan.Entry, error) {
	if len(payload) == 0 {
		return nil, claimErr(namePayload, ErrClaimSyntax, "empty")
	}
	if major(payload) != cborscan.Map {
		return nil, wrongType(namePayload, payload, "map of claims")
	}
	return readMap(payload, namePayload, maxMapPairs, dst)
}

func detectProfile(m []cborscan.Entry) (Profile, error) {
	if raw, ok := cborscan.Lookup(m, keysEAT.profile); ok {
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
	if raw, ok := cborscan.Lookup(m, keysIoT1.profile); ok {
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
	if _, ok := cborscan.Lookup(m, keysIoT1.nonce); ok {
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

func getBytes(m []cborscan.Entry, key int64, name string, mandatory bool) ([]byte, error) {
	raw, ok := cborscan.Lookup(m, key)
	if !ok {
		if mandatory {
			return nil, missing(name)
		}
		return nil, nil
	}
	return decodeBytes(name, raw)
}

func getText(m []cborscan.Entry, key int64, name string) (string, error) {
	raw, ok := cborscan.Lookup(m, key)
	if !ok {
		return "", nil
	}
	return decodeText(name, raw)
}

// The decoders below receive items that readMap or readArray have already
// checked to be complete and well formed.

func decodeBytes(name string, raw []byte) ([]byte, error) {
	if major(raw) == cborscan.Array && name == nameNonce {
		return nil, claimErr(name, ErrClaimSyntax, "an array of nonces, want a single byte string")
	}
	if major(raw) != cborscan.Bytes {
		return nil, wrongType(name, raw, "byte string")
	}
	return cborscan.Content(raw), nil
}

func decodeText(name string, raw []byte) (string, error) {
	if major(raw) != cborscan.Text {
		return "", wrongType(name, raw, "text string")
	}
	_, _, n, _ := cborscan.Head(raw)
	if len(raw)-n > MaxTextLen {
		return "", claimErr(name, ErrOversized, "%d bytes, limit %d", len(raw)-n, MaxTextLen)
	}
	return string(raw[n:]), nil
}

func decodeInt(name string, raw []byte) (int64, error) {
	m, arg, _, _ := cborscan.Head(raw)
	if m != cborscan.Uint && m != cborscan.Nint {
		return 0, wrongType(name, raw, "integer")
	}
	if arg > math.MaxInt64 {
		return 0, claimErr(name, ErrClaimSyntax, "integer out of range")
	}
	if m == cborscan.Nint {
		return -1 - int64(arg), nil
	}
	return int64(arg), nil
}

func decodeComponents(raw []byte) ([]swcomponent.Component, error) {
	if major(raw) != cborscan.Array {
		return nil, wrongType(nameSwComponents, raw, "array of maps")
	}
	items, _, err := readArray(raw, nameSwComponents, MaxSoftwareComponents)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, claimErr(nameSwComponents, ErrClaimSyntax, "empty array, want at least one component")
	}
	scs := make([]swcomponent.Component, len(items))
	for i, it := range items {
		if scs[i], err = swcomponent.Parse(it, swcomponent.AnyKeys); err != nil {
			return nil, componentErr(i, err)
		}
	}
	return scs, nil
}

// componentErr turns swcomponent's error about component i into a
// *ClaimError naming the component or its field.
func componentErr(i int, err error) error {
	name := nameSwComponents + "[" + strconv.Itoa(i) + "]"
	var fe *swcomponent.FieldError
	if !errors.As(err, &fe) {
		return claimErr(name, ErrClaimSyntax, "%v", err)
	}
	if fe.Field != "" {
		name += "." + fe.Field
	}
	sentinel := ErrClaimSyntax
	switch {
	case errors.Is(fe.Err, swcomponent.ErrOversized):
		sentinel = ErrOversized
	case errors.Is(fe.Err, swcomponent.ErrMissing):
		sentinel = ErrMissingClaim
	}
	return &ClaimError{Claim: name, Err: sentinel, Detail: fe.Detail}
}
