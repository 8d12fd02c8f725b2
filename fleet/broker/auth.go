package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"rampart/fleet/ca"
	"rampart/fleet/store"
)

// ErrRefused wraps every reason a device connection is refused.
var ErrRefused = errors.New("broker: connection refused")

// admit is the TLS VerifyConnection check of a connection from src: the
// chain to the fleet CA, validity at now and client-auth usage (crypto
// only), then, holding an authentication slot (admission.go), a
// certificate on record and not revoked, and an active device. The
// handshake fails when it returns an error. busy: no slot came within
// Config.AuthWait; the store was not read, the handshake passes, and the
// connection's CONNECT is answered "server busy".
func (b *Broker) admit(cs tls.ConnectionState, src netip.Addr) (busy bool, err error) {
	chain := cs.PeerCertificates
	subject := ""
	if len(chain) > 0 {
		subject = chain[0].Subject.CommonName
	}
	kind, err := b.checkCrypto(chain)
	if err == nil {
		if !b.auth.acquire(src, b.cfg.AuthWait, nil) {
			return true, nil
		}
		defer b.auth.release(src)
		if f := b.cfg.inAuthentication; f != nil {
			f(subject)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		kind, err = b.checkRecord(ctx, chain[0])
	}
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrRefused, err)
		b.refused(subject, "mqtt.connect", kind, err.Error())
	}
	return false, err
}

// checkCrypto checks chain against the fleet CA, the time and the usage:
// no store read.
func (b *Broker) checkCrypto(chain []*x509.Certificate) (string, error) {
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
	return "", nil
}

// checkRecord checks leaf's certificate record and device in the store.
func (b *Broker) checkRecord(ctx context.Context, leaf *x509.Certificate) (string, error) {
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
