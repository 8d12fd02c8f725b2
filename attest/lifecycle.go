package attest

import "fmt"

// Lifecycle is the PSA security lifecycle claim: major state in bits 15..8,
// an implementation-defined minor state in bits 7..0.
type Lifecycle uint16

// Major lifecycle states (RFC 9783 security lifecycle claim; PSA Security Model).
const (
	LifecycleUnknown                Lifecycle = 0x0000
	LifecycleAssemblyAndTest        Lifecycle = 0x1000
	LifecyclePSARoTProvisioning     Lifecycle = 0x2000
	LifecycleSecured                Lifecycle = 0x3000
	LifecycleNonPSARoTDebug         Lifecycle = 0x4000
	LifecycleRecoverablePSARoTDebug Lifecycle = 0x5000
	LifecycleDecommissioned         Lifecycle = 0x6000
	lifecycleMajorMask              Lifecycle = 0xff00
	lifecycleHighestMajor           Lifecycle = LifecycleDecommissioned
)

// Major returns the major state with the implementation-defined bits cleared.
func (l Lifecycle) Major() Lifecycle { return l & lifecycleMajorMask }

// Valid reports whether l lies in one of the seven defined ranges
// (0x0000-0x00ff, 0x1000-0x10ff, ..., 0x6000-0x60ff).
func (l Lifecycle) Valid() bool {
	m := l.Major()
	return m&0x0f00 == 0 && m <= lifecycleHighestMajor
}

// Trustworthy reports whether a verifier may accept a token in this state:
// only secured and non-PSA-RoT debug (RFC 9783, verification policy).
func (l Lifecycle) Trustworthy() bool {
	return l.Major() == LifecycleSecured || l.Major() == LifecycleNonPSARoTDebug
}

// String names the state, e.g. "secured" or "secured (0x3001)".
func (l Lifecycle) String() string {
	var name string
	switch {
	case !l.Valid():
		return fmt.Sprintf("invalid (0x%04x)", uint16(l))
	case l.Major() == LifecycleUnknown:
		name = "unknown"
	case l.Major() == LifecycleAssemblyAndTest:
		name = "assembly-and-test"
	case l.Major() == LifecyclePSARoTProvisioning:
		name = "psa-rot-provisioning"
	case l.Major() == LifecycleSecured:
		name = "secured"
	case l.Major() == LifecycleNonPSARoTDebug:
		name = "non-psa-rot-debug"
	case l.Major() == LifecycleRecoverablePSARoTDebug:
		name = "recoverable-psa-rot-debug"
	default:
		name = "decommissioned"
	}
	if l == l.Major() {
		return name
	}
	return fmt.Sprintf("%s (0x%04x)", name, uint16(l))
}
