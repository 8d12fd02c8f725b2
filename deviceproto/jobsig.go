package deviceproto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/veraison/go-cose"
)

// A job message is a tagged COSE_Sign1 (RFC 9052) made by the fleet's job
// signer (docs/agent.md, "Job message"):
//
//	protected:   {1 (alg): -7 ES256 | -35 ES384,
//	              3 (content type): "application/rampart-job+json",
//	              33 (x5chain): bstr, the job signer's certificate (RFC 9360)}
//	unprotected: {} (ignored)
//	payload:     the job's JSON (Job), device, nonce, issued and expires included
//	signature:   r || s by the job signer's key
//
// A device acts on a job only if the signer's certificate chains to the CA
// that issued the device's own certificate and carries the job signer's
// role (OIDDocumentSigning and JobSignerURI), the signature verifies
// with its key, the job names this device, has not expired, was not issued
// before the last job the device took, and its URL is https to the
// enrollment endpoint or an endpoint the signer's certificate names.

// The job signer's role marks. fleet/ca puts both in the certificate it
// issues to the fleet's job signer, and a device accepts a job only from a
// certificate carrying both: a device certificate (clientAuth, a device
// URI) or the server's TLS certificate (serverAuth) carries neither, so no
// key but the job signer's signs a job a device accepts.
var (
	// OIDDocumentSigning is id-kp-documentSigning (RFC 9336): the
	// extended key usage of the job signer's certificate.
	OIDDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
	// JobSignerURI is the URI SAN that marks the fleet's job signer among
	// the document signers the CA might ever issue.
	JobSignerURI = "urn:rampart:fleet-job-signer"
)

// JobContentType is the protected content type of a job message.
const JobContentType = "application/rampart-job+json"

// DefaultJobTTL is how long a signed job stays valid. Device clocks may be
// days off (no RTC, the simulator skews some by 36 h), so it is generous:
// replay of a job older than the last one taken is refused by Issued,
// whatever the clock says; the expiry only bounds a job the device has
// never seen.
const DefaultJobTTL = 7 * 24 * time.Hour

// maxSignerCert bounds the job signer's certificate in a job message.
const maxSignerCert = 4 << 10

// Reasons a job is refused; errors wrap one of them.
var (
	ErrJobEnvelope  = errors.New("deviceproto: job: not a valid signed job")
	ErrJobSignature = errors.New("deviceproto: job: not signed by the fleet's job signer")
	ErrJobDevice    = errors.New("deviceproto: job: for another device")
	ErrJobExpired   = errors.New("deviceproto: job: expired")
	ErrJobReplayed  = errors.New("deviceproto: job: issued before the last job taken (replayed)")
	ErrJobURL       = errors.New("deviceproto: job: url is not an https fleet endpoint")
)

// JobSigner signs the fleet's jobs. It is safe for concurrent use.
type JobSigner struct {
	Key  crypto.Signer     // the job signer's key (ECDSA P-256 or P-384)
	Cert *x509.Certificate // its certificate (fleet/ca IssueJobSigner)
	TTL  time.Duration     // validity of a job; DefaultJobTTL when 0
	Rand io.Reader         // nonces and signatures; crypto/rand when nil
	Now  func() time.Time  // time.Now when nil

	last    atomic.Int64                     // the last Issued, so that it strictly increases
	renewed atomic.Pointer[x509.Certificate] // SetCert's, replacing Cert
}

// SetCert replaces the certificate of the signer's key (a new one naming
// other endpoints, say) for the jobs signed from now on; safe while jobs
// are signed.
func (s *JobSigner) SetCert(c *x509.Certificate) { s.renewed.Store(c) }

// Certificate is the certificate jobs signed now carry: the last SetCert's,
// else Cert.
func (s *JobSigner) Certificate() *x509.Certificate {
	if c := s.renewed.Load(); c != nil {
		return c
	}
	return s.Cert
}

// Sign binds j to deviceID (Device, Issued, Expires; a random Nonce when
// j has none), validates it and returns the signed job message. It
// refuses a job no agent would accept (an http URL, a bad field).
func (s *JobSigner) Sign(deviceID string, j Job) ([]byte, error) {
	msg, _, err := s.SignJob(deviceID, j)
	return msg, err
}

// SignJob is Sign, also returning the job as signed (its Device, Nonce,
// Issued and Expires set): publishers keep the message until Expires.
func (s *JobSigner) SignJob(deviceID string, j Job) ([]byte, Job, error) {
	msg, err := s.sign(deviceID, &j)
	return msg, j, err
}

// sign binds *j to deviceID and signs it.
func (s *JobSigner) sign(deviceID string, j *Job) ([]byte, error) {
	r, err := s.ready()
	if err != nil {
		return nil, err
	}
	if len(j.Nonce) == 0 {
		j.Nonce = make([]byte, 32)
		if _, err := io.ReadFull(r, j.Nonce); err != nil {
			return nil, fmt.Errorf("deviceproto: job signer: nonce: %w", err)
		}
	}
	j.Device = deviceID
	j.Issued, j.Expires = s.stamp()
	payload, err := j.marshalPayload()
	if err != nil {
		return nil, err
	}
	return s.seal(JobContentType, payload, MaxJobSize)
}

// ready checks that the signer has a key and a certificate, and returns
// its random source.
func (s *JobSigner) ready() (io.Reader, error) {
	if s.Key == nil || s.Certificate() == nil {
		return nil, errors.New("deviceproto: job signer: key and certificate are required")
	}
	if s.Rand == nil {
		return rand.Reader, nil
	}
	return s.Rand, nil
}

// stamp returns a new message's Issued (strictly increasing) and Expires
// (Issued plus the signer's TTL).
func (s *JobSigner) stamp() (issued, expires int64) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultJobTTL
	}
	issued = s.issued(now().UnixMilli())
	return issued, issued + ttl.Milliseconds()
}

// seal signs payload as a COSE_Sign1 message of content type ct (which
// tells jobs, transfers and trust messages apart) carrying the signer's
// current certificate, and refuses a message over limit bytes. Every
// message of the job signer is made here.
func (s *JobSigner) seal(ct string, payload []byte, limit int) ([]byte, error) {
	r, err := s.ready()
	if err != nil {
		return nil, err
	}
	alg, err := coseAlg(s.Key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := cose.NewSigner(alg, s.Key)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: job signer: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	msg.Headers.Protected[cose.HeaderLabelContentType] = ct
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = s.Certificate().Raw
	msg.Payload = payload
	if err := msg.Sign(r, nil, signer); err != nil {
		return nil, fmt.Errorf("deviceproto: job signer: %w", err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("deviceproto: job signer: %w", err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("deviceproto: job signer: %s message of %d bytes, more than %d", ct, len(out), limit)
	}
	return out, nil
}

// issued returns max(now, last+1) and records it.
func (s *JobSigner) issued(now int64) int64 {
	for {
		last := s.last.Load()
		v := max(now, last+1)
		if s.last.CompareAndSwap(last, v) {
			return v
		}
	}
}

func coseAlg(pub crypto.PublicKey) (cose.Algorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	switch {
	case ok && k.Curve == elliptic.P256():
		return cose.AlgorithmES256, nil
	case ok && k.Curve == elliptic.P384():
		return cose.AlgorithmES384, nil
	}
	return 0, fmt.Errorf("%w: signer key %T is not ECDSA P-256 or P-384", ErrJobSignature, pub)
}

// SignedJob is a decoded job message. Nothing in it is trusted before
// Verify returned nil.
type SignedJob struct {
	Job    Job               // the payload, parsed and validated
	Signer *x509.Certificate // the x5chain certificate
	Alg    cose.Algorithm

	env *envelope
}

// DecodeJob decodes a job message without verifying it: size, envelope,
// protected header (algorithm, content type, the signer's certificate, no
// critical parameters) and the payload, which must be a valid job.
func DecodeJob(b []byte) (*SignedJob, error) {
	e, err := openEnvelope(b, JobContentType, MaxJobSize)
	if err != nil {
		return nil, err
	}
	s := &SignedJob{Signer: e.signer, Alg: e.alg, env: e}
	if s.Job, err = parseJobPayload(e.msg.Payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJobEnvelope, err)
	}
	return s, nil
}

// JobPolicy is what a device checks a job against.
type JobPolicy struct {
	// Roots are the device's fleet trust anchors.
	Roots *x509.CertPool
	// Device is the device's own certificate: the job signer must chain to
	// its issuer, and the job must name its common name.
	Device *x509.Certificate
	// EnrollURL is the base URL the device enrolls with; its host and port
	// are a download endpoint.
	EnrollURL string
	// Now is the device's time.
	Now time.Time
}

// Verify checks the signed job against p: the signer's certificate and
// role, the signature, the device, the expiry and the URL. Replay against
// the last job taken is the device's check (it holds that state; a replay
// is refused with ErrJobReplayed).
func (s *SignedJob) Verify(p JobPolicy) error {
	if err := s.env.verify(p); err != nil {
		return err
	}
	j := s.Job
	if j.Device != p.Device.Subject.CommonName {
		return fmt.Errorf("%w: job %s is for %q, this device is %q", ErrJobDevice, j.ID, j.Device, p.Device.Subject.CommonName)
	}
	if p.Now.UnixMilli() > j.Expires {
		return fmt.Errorf("%w: job %s expired at %s (device time %s)", ErrJobExpired, j.ID, time.UnixMilli(j.Expires).UTC().Format(time.RFC3339), p.Now.UTC().Format(time.RFC3339))
	}
	return checkEndpoint(j.URL, p.EnrollURL, s.Signer)
}

// VerifyJob decodes and verifies a job message.
func VerifyJob(b []byte, p JobPolicy) (Job, error) {
	s, err := DecodeJob(b)
	if err != nil {
		return Job{}, err
	}
	if err := s.Verify(p); err != nil {
		return Job{}, err
	}
	return s.Job, nil
}

// checkSignerRole requires the job signer's marks: id-kp-documentSigning,
// the job signer URI, digital signature, not a CA.
func checkSignerRole(c *x509.Certificate) error {
	hasEKU := slices.ContainsFunc(c.UnknownExtKeyUsage, func(o asn1.ObjectIdentifier) bool { return o.Equal(OIDDocumentSigning) })
	hasURI := slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == JobSignerURI })
	if !hasEKU || !hasURI || c.KeyUsage&x509.KeyUsageDigitalSignature == 0 || c.IsCA {
		return fmt.Errorf("%w: certificate %q is not the fleet's job signer (needs id-kp-documentSigning and %s)", ErrJobSignature, c.Subject.CommonName, JobSignerURI)
	}
	return nil
}

// issued reports whether root issued cert.
func issued(cert, root *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, root.RawSubject) && cert.CheckSignatureFrom(root) == nil
}

// checkEndpoint requires an https URL whose host and port are the
// enrollment endpoint's or one of the https endpoints the (verified)
// signer's certificate names.
func checkEndpoint(raw, enrollURL string, signer *x509.Certificate) error {
	if err := CheckHTTPS(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	want := Endpoint(u)
	if e, err := url.Parse(enrollURL); err == nil && e.Scheme == "https" && Endpoint(e) == want {
		return nil
	}
	for _, e := range signer.URIs {
		if e.Scheme == "https" && Endpoint(e) == want {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is neither the enrollment endpoint nor an endpoint of the job signer", ErrJobURL, want)
}

// DownloadEndpoints are the endpoints (host:port, as Endpoint gives them)
// a verified job's image may be fetched from: the enrollment endpoint and
// the https endpoints its signer's certificate names, exactly those Verify
// accepts in its URL. A device that lost its download may resume it from
// another of them (MirrorURL); call it only after Verify returned nil.
func (s *SignedJob) DownloadEndpoints(enrollURL string) []string {
	var out []string
	add := func(u *url.URL) {
		if e := Endpoint(u); u.Scheme == "https" && u.Hostname() != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if e, err := url.Parse(enrollURL); err == nil {
		add(e)
	}
	for _, e := range s.Signer.URIs {
		add(e)
	}
	return out
}

// MirrorURL is raw (an https job URL) with its host and port replaced by
// endpoint: the same image from another certified endpoint.
func MirrorURL(raw, endpoint string) (string, error) {
	if err := CheckHTTPS(raw); err != nil {
		return "", err
	}
	u, _ := url.Parse(raw)
	u.Host = endpoint
	return u.String(), nil
}

// Endpoint is the endpoint a URL names, as a job's URL is compared with
// the fleet's endpoints (and a redirect with the URL it left): its
// lower-case host and its port (443 when absent).
func Endpoint(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
