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
	kind, err := b.checkChain(ctx, cs.PeerCertificates)
	if err != nil {
		subject := ""
		if len(cs.PeerCertificates) > 0 {
			subject = cs.PeerCertificates[0].Subject.CommonName
		}
		b.refused(subject, "mqtt.connect", kind, err.Error())
	}
	return err
}

// checkChain returns why chain is refused, if it is: a kind (for the
// audit's burst counting) and the error.
func (b *Broker) checkChain(ctx context.Context, chain []*x509.Certificate) (string, error) {
	kind, err := b.checkChainErr(ctx, chain)
	if err != nil {
		return kind, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return "", nil
}

func (b *Broker) checkChainErr(ctx context.Context, chain []*x509.Certificate) (string, error) {
	if len(chain) == 0 {
		return "certificate", errors.New("no client certificate")
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.cfg.CA.Pool(), Intermediates: inter, CurrentTime: b.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "certificate", fmt.Errorf("certificate: %v", err)
	}
	rec, err := b.cfg.Store.Certificate(ctx, ca.Serial(leaf.SerialNumber))
	if errors.Is(err, store.ErrNotFound) {
		return "not-on-record", fmt.Errorf("certificate %s is not on record", ca.Serial(leaf.SerialNumber))
	}
	if err != nil {
		return "store", err
	}
	if !rec.Revoked.IsZero() {
		return "revoked", fmt.Errorf("certificate %s revoked at %s", rec.Serial, rec.Revoked.Format(time.RFC3339))
	}
	if rec.DeviceID != leaf.Subject.CommonName {
		return "wrong-device", fmt.Errorf("certificate %s names %q but was issued to %q", rec.Serial, leaf.Subject.CommonName, rec.DeviceID)
	}
	d, err := b.cfg.Store.Device(ctx, rec.DeviceID)
	if err != nil {
		return "store", fmt.Errorf("device %s: %v", rec.DeviceID, err)
	}
	if d.State != store.Active {
		return "device-state", fmt.Errorf("device %s is %s %s", d.ID, d.State, d.Reason)
	}
	return "", nil
}
