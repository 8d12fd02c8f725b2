package ca

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/url"
	"time"

	"rampart/deviceproto"
)

// A job signer is the key with which the fleet signs the firmware-update
// jobs it sends to devices (docs/agent.md, "Job message"). Its certificate,
// issued here, is what a device checks a job's signature against: it must
// chain to the fleet CA that issued the device's own certificate and carry
// both role marks the protocol defines (deviceproto.OIDDocumentSigning and
// deviceproto.JobSignerURI). A device certificate (clientAuth, a device
// URI) or the server's TLS certificate (serverAuth) carries neither, so no
// key but the job signer's can sign a job a device accepts.
//
// The certificate may also name the HTTPS endpoints devices may download
// images from besides the enrollment endpoint (URI SANs with the https
// scheme): the CA, not the job-signing key, decides where devices go.

// IssueJobSigner issues the job signer's certificate for pub, valid for
// ttl, naming endpoints (https URLs of scheme, host and port only) as
// image download endpoints.
func (c *CA) IssueJobSigner(pub crypto.PublicKey, endpoints []string, ttl time.Duration) (*x509.Certificate, error) {
	marker, err := url.Parse(deviceproto.JobSignerURI)
	if err != nil {
		return nil, fmt.Errorf("ca: job signer: %w", err)
	}
	t := &x509.Certificate{
		Subject:            pkix.Name{CommonName: "Rampart fleet job signer"},
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{deviceproto.OIDDocumentSigning},
		URIs:               []*url.URL{marker},
	}
	for _, e := range endpoints {
		u, err := ParseEndpoint(e)
		if err != nil {
			return nil, err
		}
		t.URIs = append(t.URIs, u)
	}
	return c.issue(pub, t, ttl)
}

// ParseEndpoint checks an image download endpoint: an https URL with a
// host and nothing after it but an optional port (no user, path, query or
// fragment).
func ParseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("ca: endpoint %q: %w", s, err)
	}
	if u.Scheme != "https" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("ca: endpoint %q: want https://host[:port]", s)
	}
	u.Path = ""
	return u, nil
}
