package agent

import (
	"crypto/x509"
	"slices"
	"testing"
)

// TestEnrollURLsFollowTransfer: the configured fallbacks are the first
// owner's nodes, tried while the device is in that fleet; after a
// transfer the device enrolls only at its new fleet, never at the old
// fleet's nodes.
func TestEnrollURLsFollowTransfer(t *testing.T) {
	a := &Agent{state: &State{}, cfg: Config{EnrollURL: "https://a0:8443", EnrollFallbacks: []string{"https://a1:8443", "https://a0:8443", ""}}}
	if got, want := a.enrollURLs(), []string{"https://a0:8443", "https://a1:8443"}; !slices.Equal(got, want) {
		t.Fatalf("in the configured fleet: %v, want %v", got, want)
	}
	a.state.Fleet, a.fleetRoots = &FleetRef{EnrollURL: "https://b0:8443"}, x509.NewCertPool()
	if got, want := a.enrollURLs(), []string{"https://b0:8443"}; !slices.Equal(got, want) {
		t.Fatalf("after a transfer: %v, want %v", got, want)
	}
}
