package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// ErrRefused wraps every reason a device connection is refused.
var ErrRefused = errors.New("broker: connection refused")

// verifyPeer is the TLS VerifyConnection check: the chain to the fleet CA,
// validity at now, client-auth usage, a certificate on record and not
// revoked, and an active device. The handshake fails when it returns an error.
func (b *Broker) verifyPeer(cs tls.ConnectionState) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.checkChain(ctx, cs.PeerCertificates)
	if err != nil {
		subject := ""
		if len(cs.PeerCertificates) > 0 {
			subject = cs.PeerCertificates[0].Subject.CommonName
		}
		b.deny(ctx, subject, "mqtt.connect", err.Error())
	}
	return err
}

func (b *Broker) checkChain(ctx context.Context, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no client certificate", ErrRefused)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.cfg.CA.Pool(), Intermediates: inter, CurrentTime: b.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: certificate: %v", ErrRefused, err)
	}
	rec, err := b.cfg.Store.Certificate(ctx, ca.Serial(leaf.SerialNumber))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: certificate %s is not on record", ErrRefused, ca.Serial(leaf.SerialNumber))
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if !rec.Revoked.IsZero() {
		return fmt.Errorf("%w: certificate %s revoked at %s", ErrRefused, rec.Serial, rec.Revoked.Format(time.RFC3339))
	}
	if rec.DeviceID != leaf.Subject.CommonName {
		return fmt.Errorf("%w: certificate %s names %q but was issued to %q", ErrRefused, rec.Serial, leaf.Subject.CommonName, rec.DeviceID)
	}
	d, err := b.cfg.Store.Device(ctx, rec.DeviceID)
	if err != nil {
		return fmt.Errorf("%w: device %s: %v", ErrRefused, rec.DeviceID, err)
	}
	if d.State != store.Active {
		return fmt.Errorf("%w: device %s is %s %s", ErrRefused, d.ID, d.State, d.Reason)
	}
	return nil
}

func (b *Broker) deny(ctx context.Context, subject, action, reason string) {
	b.cfg.Log.Info("mqtt refused", "device", subject, "action", action, "reason", reason)
	if b.cfg.OnDeny != nil {
		b.cfg.OnDeny(action)
	}
	if err := b.cfg.Store.Audit(ctx, &store.AuditEntry{Actor: "device:" + subject, Action: action, Subject: subject, Decision: store.Deny, Reason: reason}); err != nil {
		b.cfg.Log.Error("audit write failed", "err", err)
	}
}
