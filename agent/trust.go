package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"rampart/deviceproto"
)

// A rotation of the fleet CA on the device (docs/ownership-and-rotation.md).
//
// The fleet's trust message names the new CA, vouched for by a cross
// certificate the current CA signed (deviceproto.VerifyTrust). The agent
// trusts both until it holds a certificate of the new CA, re-enrolls by
// attestation, then trusts only the anchors the message named. Until the
// device has the new anchor, it verifies the server's chain through the
// cross certificate the server presents (deviceproto.VerifyServerChain).
// A device whose certificate the broker refuses (an emergency rotation
// revoked it) re-enrolls by attestation before it connects again.

// anchorsLocked are the certificates of the fleet's trust anchors now.
func (a *Agent) anchorsLocked() []*x509.Certificate {
	if f := a.state.Fleet; f != nil && a.fleetRoots != nil {
		var out []*x509.Certificate
		for _, der := range f.CACerts {
			if c, err := x509.ParseCertificate(der); err == nil {
				out = append(out, c)
			}
		}
		return out
	}
	return a.cfg.Anchors
}

func (a *Agent) anchors() []*x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.anchorsLocked()
}

// tlsConfig is the client TLS configuration toward the fleet: the anchors'
// chain checked by VerifyServerChain (which also accepts a chain through a
// cross certificate of a rotation) rather than by crypto/tls alone.
func (a *Agent) tlsConfig(serverName string) *tls.Config {
	return &tls.Config{
		ServerName: serverName, MinVersion: tls.VersionTLS12, Time: a.cfg.Now,
		InsecureSkipVerify: true, // VerifyConnection checks the chain and the name
		VerifyConnection: func(cs tls.ConnectionState) error {
			name := serverName
			if name == "" {
				name = cs.ServerName
			}
			anchors := a.anchors()
			if len(anchors) == 0 {
				// No anchor certificates known (an older configuration):
				// the pool alone, as crypto/tls would.
				return verifyWithPool(cs, a.roots(), name, a.cfg.Now)
			}
			return deviceproto.VerifyServerChain(cs, anchors, name, a.cfg.Now())
		},
	}
}

func verifyWithPool(cs tls.ConnectionState, roots *x509.CertPool, name string, now func() time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("agent: tls: no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name, CurrentTime: now()})
	return err
}

// receiveTrust is the MQTT path of a trust message.
func (a *Agent) receiveTrust(msg []byte) {
	a.mu.Lock()
	cert := a.cert
	a.mu.Unlock()
	if cert == nil {
		return
	}
	if _, _, err := deviceproto.VerifyTrust(msg, a.anchors(), cert, a.cfg.Now()); err != nil {
		a.refuse(err)
		return
	}
	select {
	case a.trusts <- msg:
	default:
	}
}

// HandleTrust verifies a trust message and follows it.
func (a *Agent) HandleTrust(ctx context.Context, msg []byte) error { return a.followTrust(ctx, msg) }

// followTrust adds the new anchors, re-enrolls by attestation under the
// new CA and then keeps only the new anchors. A message the device has
// followed already (its certificate is from an anchor it names, and its
// anchors are those) changes nothing.
func (a *Agent) followTrust(ctx context.Context, msg []byte) error {
	a.mu.Lock()
	cert := a.cert
	a.mu.Unlock()
	if cert == nil {
		return nil
	}
	cur := a.anchors()
	t, next, err := deviceproto.VerifyTrust(msg, cur, cert, a.cfg.Now())
	if err != nil {
		a.refuse(err)
		return fatal(err)
	}
	if slices.ContainsFunc(next, func(c *x509.Certificate) bool { return issuedBy(cert, c) }) && sameAnchors(cur, next) {
		return nil
	}
	a.cfg.Log.Info("CA rotation: new trust anchors; re-enrolling", "message", t.ID)
	if err := a.setAnchors(append(slices.Clone(next), cur...)); err != nil {
		return err
	}
	if err := retry(ctx, a.cfg.Backoff, a.cfg.Rand, "re-enroll (CA rotation)", func() error { return a.Enroll(ctx, true) }); err != nil {
		return err
	}
	return a.setAnchors(next)
}

// setAnchors makes anchors the device's trust anchors (persisted, in the
// fleet reference: the configured fleet's other settings kept).
func (a *Agent) setAnchors(anchors []*x509.Certificate) error {
	var ders [][]byte
	pool := x509.NewCertPool()
	for _, c := range anchors {
		if !slices.ContainsFunc(ders, func(d []byte) bool { return string(d) == string(c.Raw) }) {
			ders = append(ders, c.Raw)
			pool.AddCert(c)
		}
	}
	a.mu.Lock()
	f := a.state.Fleet
	if f == nil {
		f = &FleetRef{EnrollURL: a.cfg.EnrollURL, MQTT: []string{a.cfg.MQTTAddr}}
	} else {
		c := *f
		f = &c
	}
	f.CACerts = ders
	a.state.Fleet, a.fleetRoots = f, pool
	err := a.saveLocked()
	a.mu.Unlock()
	return err
}

func issuedBy(cert, ca *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(ca.RawSubject) && cert.CheckSignatureFrom(ca) == nil
}

func sameAnchors(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// certificateRefused reports whether a connection error is the broker
// refusing the device's certificate (a TLS alert): the device then
// re-enrolls by attestation before it connects again.
func certificateRefused(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "tls: bad certificate") || strings.Contains(s, "tls: certificate revoked") ||
		strings.Contains(s, "tls: unknown certificate authority") || strings.Contains(s, "tls: certificate required")
}
