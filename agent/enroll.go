package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"rampart/deviceproto"
)

// Enroll obtains a certificate by attestation: the first enrollment, or
// with renew a re-enrollment, which proves the device's current state with
// a fresh token (the server checks every measurement again).
func (a *Agent) Enroll(ctx context.Context, renew bool) error {
	return a.enrollAt(ctx, a.enrollURL(), renew)
}

// enrollAt is Enroll at base URL u (the configured enrollment URL, or
// another of the fleet's certified endpoints when it is unreachable).
func (a *Agent) enrollAt(ctx context.Context, u string, renew bool) error {
	c := &deviceproto.Client{URL: u, HTTP: a.http}
	// Enrollment is rare: keep no connection to the server open after it.
	defer a.http.CloseIdleConnections()
	ans, err := c.EnrollAnswer(ctx, a.signer, a.cfg.Rand, a.Attest, renew)
	if err != nil {
		err = fmt.Errorf("agent: enroll: %w", err)
		if hint := permanentTLS(err); hint != "" {
			return fatalHint(err, hint)
		}
		return err
	}
	cert := ans.Certificate
	if ans.MQTTErr != nil {
		a.cfg.Log.Warn("the fleet's MQTT endpoint list is malformed: keeping the known endpoints", "err", ans.MQTTErr)
	}
	if cert.Subject.CommonName == "" {
		return fatal(fmt.Errorf("agent: enroll: certificate has no device id"))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cert, a.forceRenew = cert, false
	a.state.DeviceID = cert.Subject.CommonName
	a.state.CertDER = cert.Raw
	a.learnEndpointsLocked(ans.MQTT)
	return a.saveLocked()
}

// needsEnrollment reports whether the agent must enroll (no certificate)
// or renew (the certificate is within RenewBefore of its expiry).
func (a *Agent) needsEnrollment() (need, renew bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cert == nil {
		return true, false
	}
	if a.forceRenew {
		return true, true
	}
	before := a.cfg.RenewBefore
	if before <= 0 {
		before = a.cert.NotAfter.Sub(a.cert.NotBefore) / 3
	}
	return a.cfg.Now().After(a.cert.NotAfter.Add(-before)), true
}

// renewAt is when the current certificate should be renewed.
func (a *Agent) renewAt() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cert == nil {
		return a.cfg.Now()
	}
	before := a.cfg.RenewBefore
	if before <= 0 {
		before = a.cert.NotAfter.Sub(a.cert.NotBefore) / 3
	}
	return a.cert.NotAfter.Add(-before)
}

// EnsureEnrolled enrolls or renews when needed, retrying transient errors,
// each retry at the next of the enrollment URLs (EnrollURL, then
// EnrollFallbacks): a node that is down does not hold the device back.
func (a *Agent) EnsureEnrolled(ctx context.Context) error {
	need, renew := a.needsEnrollment()
	if !need {
		return nil
	}
	urls := a.enrollURLs()
	n := 0
	return retry(ctx, a.cfg.Backoff, a.cfg.Rand, "enroll", func() error {
		u := urls[n%len(urls)]
		n++
		err := a.enrollAt(ctx, u, renew)
		if err != nil && !IsFatal(err) && len(urls) > 1 {
			a.cfg.Log.Info("enrollment failed: trying the next enrollment URL", "url", u, "next", urls[n%len(urls)], "err", err)
		}
		return err
	})
}

// enrollURLs are the current fleet's enrollment URL and, while that is
// still the configured fleet, EnrollFallbacks, without repeats. After a
// transfer (fleetref.go) the fallbacks are the first owner's nodes: the
// device must never enroll there again.
func (a *Agent) enrollURLs() []string {
	first := a.enrollURL()
	urls := []string{first}
	if first != a.cfg.EnrollURL {
		return urls
	}
	for _, u := range a.cfg.EnrollFallbacks {
		if u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}
