package enroll_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"rampart/fleet/enroll"
	"rampart/fleet/internal/netlimit"
)

// OnIssued (which, in a cluster, sends a bus message to every node) is
// called only when the enrollment revoked an earlier certificate of the
// device: not for its first enrollment, for each one after it. It tells a
// renewal (the server's grace for the old session) from a re-enrollment.
func TestOnIssuedOnlyWhenCertificateSuperseded(t *testing.T) {
	e := newBenchEnv(t, "sqlite")
	var calls []string
	var renewals []bool
	svc, err := enroll.NewService(enroll.Config{Store: e.db, CA: e.ca, Rand: rand.Reader, CertTTL: time.Hour,
		NonceRate: netlimit.Rate{PerSecond: 1e9, Burst: 1 << 30}, OnIssued: func(id, serial string, renewal bool) {
			calls, renewals = append(calls, id), append(renewals, renewal)
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.handler = svc, svc.Handler()
	ctx := context.Background()
	for round, want := range []int{0, 1, 2} {
		r := e.requestsFor(t, 1, e.release)[0]
		if _, _, ref := e.svc.Enroll(ctx, r.raw, false, "test"); ref != nil {
			t.Fatalf("enrollment %d: %v", round+1, ref)
		}
		if len(calls) != want {
			t.Fatalf("after enrollment %d of one device: OnIssued called %d times, want %d", round+1, len(calls), want)
		}
	}
	if calls[0] != e.devs[0].id {
		t.Fatalf("OnIssued for %s, want %s", calls[0], e.devs[0].id)
	}
	r := e.requestsFor(t, 1, e.release)[0]
	if _, _, ref := e.svc.Enroll(ctx, r.raw, true, "test"); ref != nil {
		t.Fatalf("renewal: %v", ref)
	}
	if want := []bool{false, false, true}; len(renewals) != 3 || renewals[0] != want[0] || renewals[1] != want[1] || renewals[2] != want[2] {
		t.Fatalf("OnIssued's renewal flags %v, want %v", renewals, want)
	}
}
