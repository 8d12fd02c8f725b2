package deviceproto

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A trust message gives a device its fleet's new trust anchors during a
// rotation of the fleet CA (docs/ownership-and-rotation.md) and tells it to
// re-enroll under the new CA. It travels like a job (retained on the jobs
// topic) in the job signer's envelope, content type TrustContentType. Its
// payload names the new anchors and the cross certificates by which the
// current CA vouches for them: a device accepts a new anchor only if it is
// one it trusts already or the subject and key of a cross certificate
// signed by one it trusts.

// TrustContentType is the protected content type of a trust message.
const TrustContentType = "application/rampart-trust+json"

// MaxTrustSize bounds a trust message.
const MaxTrustSize = 16 << 10

// ErrTrust: a trust message is not valid or names an anchor no trusted CA
// vouches for.
var ErrTrust = errors.New("deviceproto: trust: not a valid trust message")

// Trust is the payload of a trust message.
type Trust struct {
	ID      string `json:"id"`
	Device  string `json:"device"`
	Issued  int64  `json:"issued"`  // Unix ms
	Expires int64  `json:"expires"` // Unix ms
	// Anchors are the CA certificates (DER) the device trusts from now on.
	Anchors [][]byte `json:"anchors"`
	// Cross are cross certificates (DER): a new anchor's subject and key
	// certified by a CA the device trusts now.
	Cross [][]byte `json:"cross,omitempty"`
}

// Validate checks a trust message's fields on their own.
func (t Trust) Validate() error {
	switch {
	case t.ID == "" || len(t.ID) > 128 || !printable(t.ID):
		return fmt.Errorf("%w: id", ErrTrust)
	case t.Device == "" || len(t.Device) > 128 || !printable(t.Device):
		return fmt.Errorf("%w: device", ErrTrust)
	case t.Issued <= 0 || t.Expires <= t.Issued:
		return fmt.Errorf("%w: issued %d, expires %d", ErrTrust, t.Issued, t.Expires)
	case len(t.Anchors) == 0 || len(t.Anchors) > 4 || len(t.Cross) > 4:
		return fmt.Errorf("%w: %d anchors and %d cross certificates, want 1 to 4 and at most 4", ErrTrust, len(t.Anchors), len(t.Cross))
	}
	for _, l := range [][][]byte{t.Anchors, t.Cross} {
		for _, der := range l {
			if c, err := x509.ParseCertificate(der); err != nil || !c.IsCA {
				return fmt.Errorf("%w: a certificate is not a CA certificate", ErrTrust)
			}
		}
	}
	return nil
}

// SignTrust binds t to deviceID and signs it as a trust message.
func (s *JobSigner) SignTrust(deviceID string, t Trust) ([]byte, error) {
	if _, err := s.ready(); err != nil {
		return nil, err
	}
	t.Device = deviceID
	t.Issued, t.Expires = s.stamp()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return s.seal(TrustContentType, payload, MaxTrustSize)
}

// IsTrust reports whether a message on the jobs topic is a trust message
// (by its protected content type; nothing is verified).
func IsTrust(b []byte) bool { return hasContentType(b, TrustContentType, MaxTrustSize) }

// CrossRoots returns the CA certificates among presented that one of
// anchors signed: the successors the device's CA vouches for. Rampart's CA
// certificates allow no intermediate (MaxPathLen 0), so a path through a
// cross certificate does not validate; its signature is checked here
// instead, and the certificate then serves as a root. The fleet CA signs
// no CA certificate but its successors' cross certificates.
func CrossRoots(anchors, presented []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, p := range presented {
		if !p.IsCA || !p.BasicConstraintsValid {
			continue
		}
		for _, a := range anchors {
			if bytes.Equal(p.RawIssuer, a.RawSubject) && p.CheckSignatureFrom(a) == nil {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// VerifyTrust decodes a trust message and checks it: the job signer's role,
// its certificate chaining to an anchor or a cross root (CrossRoots of the
// message's cross certificates), the signature, the device and the expiry,
// and that the device's certificate was issued by one of them. It returns
// the new anchors, each of which is an anchor already or the subject and
// key of a cross root.
func VerifyTrust(b []byte, anchors []*x509.Certificate, device *x509.Certificate, now time.Time) (Trust, []*x509.Certificate, error) {
	var t Trust
	e, err := openEnvelope(b, TrustContentType, MaxTrustSize)
	if err != nil {
		return t, nil, err
	}
	if err := decodePayload(e.msg.Payload, MaxTrustSize, &t, ErrTrust); err != nil {
		return t, nil, err
	}
	if err := t.Validate(); err != nil {
		return t, nil, err
	}
	var cross []*x509.Certificate
	for _, d := range t.Cross {
		c, _ := x509.ParseCertificate(d)
		cross = append(cross, c)
	}
	roots := append(slices.Clone(anchors), CrossRoots(anchors, cross)...)
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	if err := e.verify(JobPolicy{Roots: pool, Device: device, Now: now}, roots...); err != nil {
		return t, nil, err
	}
	if t.Device != device.Subject.CommonName {
		return t, nil, fmt.Errorf("%w: trust message %s is for %q", ErrJobDevice, t.ID, t.Device)
	}
	if now.UnixMilli() > t.Expires {
		return t, nil, fmt.Errorf("%w: trust message %s", ErrJobExpired, t.ID)
	}
	var out []*x509.Certificate
	for _, d := range t.Anchors {
		a, _ := x509.ParseCertificate(d)
		if !slices.ContainsFunc(roots, func(r *x509.Certificate) bool { return sameCA(r, a) }) {
			return t, nil, fmt.Errorf("%w: anchor %q is vouched for by no CA this device trusts", ErrTrust, a.Subject.CommonName)
		}
		out = append(out, a)
	}
	return t, out, nil
}

// sameCA reports whether two CA certificates name the same CA: the same
// subject and the same key.
func sameCA(a, b *x509.Certificate) bool {
	return bytes.Equal(a.RawSubject, b.RawSubject) && bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo)
}

// VerifyServerChain checks a TLS server's chain against anchors as a
// device does during a CA rotation: by the standard path validation, or
// else with the cross roots the chain presents (CrossRoots) as further
// roots; serverName is checked in both.
func VerifyServerChain(cs tls.ConnectionState, anchors []*x509.Certificate, serverName string, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("deviceproto: tls: no server certificate")
	}
	pool := x509.NewCertPool()
	for _, a := range anchors {
		pool.AddCert(a)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: serverName, CurrentTime: now}
	leaf := cs.PeerCertificates[0]
	_, err := leaf.Verify(opts)
	if err == nil {
		return nil
	}
	extra := CrossRoots(anchors, cs.PeerCertificates[1:])
	if len(extra) == 0 {
		return err
	}
	for _, r := range extra {
		pool.AddCert(r)
	}
	if _, err2 := leaf.Verify(opts); err2 != nil {
		return err
	}
	return nil
}
