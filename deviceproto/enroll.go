package deviceproto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"rampart/attest"
	"rampart/internal/spki"
)

// Enrollment (docs/fleet-enrollment.md) is RFC 7030 (EST) shaped: the
// device fetches a server nonce (PathNonce, NonceReply), builds a CSR, asks
// its attestation service for a PSA token whose nonce claim is
// Binding(serverNonce, CSR public key), and posts the CSR to PathSimpleEnroll
// (or PathSimpleReenrol) with the token and the server nonce in two headers.
// The answer is the certificate as a certs-only PKCS#7 (certsonly.go), or a
// Refusal (refusal.go). The server's side, which decides, is fleet/enroll;
// the device's is Client (enrollclient.go).

// Paths and headers of the enrollment protocol.
const (
	PathNonce         = "/.well-known/est/rampart/nonce"  // POST: a fresh server nonce
	PathCACerts       = "/.well-known/est/cacerts"        // GET: the fleet CA (RFC 7030 4.1)
	PathSimpleEnroll  = "/.well-known/est/simpleenroll"   // POST: first enrollment (RFC 7030 4.2.1)
	PathSimpleReenrol = "/.well-known/est/simplereenroll" // POST: renewal, fresh attestation (4.2.2)

	// HeaderNonce carries the server nonce (base64, standard alphabet).
	HeaderNonce = "Rampart-Server-Nonce"
	// HeaderToken carries the PSA attestation token (base64, standard alphabet).
	HeaderToken = "Rampart-Attestation-Token"
	// HeaderReason carries the refusal code on an error reply.
	HeaderReason = "Rampart-Reason"
)

// Size limits on an enrollment request.
const (
	NonceLen        = 32
	MaxCSRSize      = 4 << 10 // DER
	MaxBodySize     = 8 << 10 // base64 body (a P-256 CSR is ~300 bytes)
	maxTokenB64Size = (attest.MaxTokenSize + 2) / 3 * 4
)

// Binding returns the token nonce that binds a server nonce to the public
// key of the CSR: SHA-256(serverNonce || SubjectPublicKeyInfo DER of pub).
// It is 32 bytes, one of the nonce sizes a PSA token allows.
func Binding(serverNonce []byte, pub crypto.PublicKey) ([]byte, error) {
	der, err := spki.Marshal(pub) // x509.MarshalPKIXPublicKey's bytes, without its reflection
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: binding: %w", err)
	}
	h := sha256.New()
	h.Write(serverNonce)
	h.Write(der)
	return h.Sum(nil), nil
}

// NonceReply is the JSON body answering PathNonce.
type NonceReply struct {
	Nonce   []byte    `json:"nonce"` // base64 in JSON
	Expires time.Time `json:"expires"`
}

// ErrRequest: an enrollment request is malformed.
var ErrRequest = errors.New("deviceproto: enroll: malformed request")

// RawRequest is an enrollment request as it arrives over HTTP.
type RawRequest struct {
	ContentType      string // must be application/pkcs10
	TransferEncoding string // Content-Transfer-Encoding: base64 or empty
	Body             []byte // base64 of the CSR DER (whitespace allowed)
	Nonce            string // HeaderNonce value
	Token            string // HeaderToken value
}

// Request is a parsed, syntactically valid enrollment request. The CSR's
// self-signature has been checked; the token has NOT been verified (that
// is the server's work: attest.Verify against the device's endorsement,
// with Binding as the nonce).
type Request struct {
	CSR         *x509.CertificateRequest
	ServerNonce []byte
	Token       []byte
}

// EncodeRequest builds the raw request a client sends: the CSR in base64
// (RFC 7030 section 4.2.1) and the nonce and token headers.
func EncodeRequest(csrDER, serverNonce, token []byte) RawRequest {
	return RawRequest{
		ContentType:      "application/pkcs10",
		TransferEncoding: "base64",
		Body:             []byte(base64.StdEncoding.EncodeToString(csrDER)),
		Nonce:            base64.StdEncoding.EncodeToString(serverNonce),
		Token:            base64.StdEncoding.EncodeToString(token),
	}
}

// ParseRequest checks a raw request: sizes, encodings, the CSR (parsed, its
// signature = proof of possession checked, an ECDSA P-256 or P-384 key) and
// the two headers. Errors wrap ErrRequest and name the field.
func ParseRequest(r RawRequest) (*Request, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrRequest, field, fmt.Sprintf(format, args...))
	}
	if ct := strings.ToLower(strings.TrimSpace(strings.Split(r.ContentType, ";")[0])); ct != "application/pkcs10" {
		return nil, bad("content-type", "%q, want application/pkcs10", r.ContentType)
	}
	if te := strings.ToLower(strings.TrimSpace(r.TransferEncoding)); te != "" && te != "base64" {
		return nil, bad("content-transfer-encoding", "%q, want base64", r.TransferEncoding)
	}
	if len(r.Body) > MaxBodySize {
		return nil, bad("body", "%d bytes exceeds %d", len(r.Body), MaxBodySize)
	}
	der, err := decodeB64(string(r.Body), MaxCSRSize)
	if err != nil {
		return nil, bad("body", "%v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, bad("csr", "%v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, bad("csr", "signature: %v", err)
	}
	k, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || (k.Curve != elliptic.P256() && k.Curve != elliptic.P384()) {
		return nil, bad("csr", "public key %T: want ECDSA P-256 or P-384", csr.PublicKey)
	}
	if r.Nonce == "" {
		return nil, bad(HeaderNonce, "missing")
	}
	nonce, err := decodeB64(r.Nonce, NonceLen)
	if err != nil || len(nonce) != NonceLen {
		return nil, bad(HeaderNonce, "want base64 of %d bytes (%v)", NonceLen, err)
	}
	if r.Token == "" {
		return nil, bad(HeaderToken, "missing")
	}
	if len(r.Token) > maxTokenB64Size {
		return nil, bad(HeaderToken, "%d characters exceeds %d", len(r.Token), maxTokenB64Size)
	}
	tok, err := decodeB64(r.Token, attest.MaxTokenSize)
	if err != nil || len(tok) == 0 {
		return nil, bad(HeaderToken, "want base64 of a token (%v)", err)
	}
	return &Request{CSR: csr, ServerNonce: nonce, Token: tok}, nil
}

// decodeB64 decodes standard base64, ignoring white space (RFC 7030 bodies
// are line-wrapped), refusing results over max bytes.
func decodeB64(s string, max int) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") { // headers never have any: no copy then
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	if base64.StdEncoding.DecodedLen(len(s)) > max+2 {
		return nil, fmt.Errorf("longer than %d bytes", max)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("longer than %d bytes", max)
	}
	return b, nil
}
