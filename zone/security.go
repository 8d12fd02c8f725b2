package zone

import (
	"fmt"
	"strings"
)

// Security is the TrustZone attribute of an address range, a peripheral or
// an interrupt.
type Security int

// Security states. Unset means "not stated here"; it is resolved from the
// parent memory or the zone.
const (
	Unset     Security = iota
	Secure             // S: only Secure state may access it
	NonSecure          // NS: both states may access it
	NSC                // Secure, Non-secure callable (holds SG veneers)
)

// String is the spelling used in YAML files and reports.
func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case NonSecure:
		return "non-secure"
	case NSC:
		return "nsc"
	}
	return ""
}

// Short is the one-letter CMSIS-Zone code (s, n, c).
func (s Security) Short() string {
	switch s {
	case Secure:
		return "s"
	case NonSecure:
		return "n"
	case NSC:
		return "c"
	}
	return ""
}

// IsSecureSide reports whether the attribute belongs to the Secure world (S or NSC).
func (s Security) IsSecureSide() bool { return s == Secure || s == NSC }

// ParseSecurity accepts the YAML spellings (secure, non-secure, nsc) and the
// CMSIS-Zone codes (s, n, c). The empty string yields Unset.
func ParseSecurity(v string) (Security, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return Unset, nil
	case "s", "secure":
		return Secure, nil
	case "n", "ns", "non-secure", "nonsecure":
		return NonSecure, nil
	case "c", "nsc", "non-secure-callable":
		return NSC, nil
	}
	return Unset, fmt.Errorf("%w: security %q (want secure, non-secure or nsc)", ErrSyntax, v)
}

// MarshalText writes the YAML spelling.
func (s Security) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
