package agent

import (
	"context"
	"fmt"
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

// EnsureEnrolled enrolls or renews when needed, retrying transient errors.
func (a *Agent) EnsureEnrolled(ctx context.Context) error {
	need, renew := a.needsEnrollment()
	if !need {
		return nil
	}
	return retry(ctx, a.cfg.Backoff, a.cfg.Rand, "enroll", func() error { return a.Enroll(ctx, renew) })
}
