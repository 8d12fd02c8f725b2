package enroll

import (
	"fmt"
	"testing"
	"time"

	"rampart/attest"
	"rampart/swcomponent"
)

// TestAllowReason: allowReason writes what the fmt.Sprintf it replaced
// wrote, for every lifecycle (named and unnamed) and measurement count.
func TestAllowReason(t *testing.T) {
	at := time.Date(2026, 11, 25, 19, 30, 5, 123456789, time.FixedZone("x", 3600))
	for _, lc := range []attest.Lifecycle{attest.LifecycleSecured, attest.Lifecycle(0x3001), attest.Lifecycle(0x7fff), 0} {
		for _, n := range []int{0, 1, 12} {
			c := &attest.Claims{Lifecycle: lc, SoftwareComponents: make([]swcomponent.Component, n)}
			want := fmt.Sprintf("attested (lifecycle %s, %d measurements matched); certificate %s until %s", c.Lifecycle, len(c.SoftwareComponents), "0a1b", at.UTC().Format(time.RFC3339))
			if got := allowReason(c, "0a1b", at); got != want {
				t.Errorf("allowReason = %q, want %q", got, want)
			}
		}
	}
}
