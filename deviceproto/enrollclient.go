package deviceproto

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client is the device side of enrollment. It needs only an HTTPS client
// that trusts the fleet server, a key for its CSR and a way to obtain an
// attestation token for a given nonce. It trusts nothing the server sends
// beyond what the HTTPS connection authenticated, and checks that the
// certificate issued is for its own key.
type Client struct {
	// URL is the server's base URL, e.g. https://fleet.example:8443.
	URL string
	// HTTP is the client used; http.DefaultClient when nil.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Nonce asks the server for a fresh nonce.
func (c *Client) Nonce(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+PathNonce, nil)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: nonce: %w", err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: nonce: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("deviceproto: enroll: nonce: server answered %s", resp.Status)
	}
	var nr NonceReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&nr); err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: nonce: %w", err)
	}
	if len(nr.Nonce) != NonceLen {
		return nil, fmt.Errorf("deviceproto: enroll: nonce: %d bytes, want %d", len(nr.Nonce), NonceLen)
	}
	return nr.Nonce, nil
}

// CACerts fetches the fleet CA certificates (RFC 7030 /cacerts). Over a
// connection that did not authenticate the server, the answer is only as
// trustworthy as that connection.
func (c *Client) CACerts(ctx context.Context) ([]*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.URL, "/")+PathCACerts, nil)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: cacerts: %w", err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: cacerts: %w", err)
	}
	defer resp.Body.Close()
	return readCertsOnly(resp)
}

// NewCSR builds a PKCS#10 request for key (proof of possession), DER.
func NewCSR(key crypto.Signer, rand io.Reader, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand, &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}, key)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: csr: %w", err)
	}
	return der, nil
}

// Submit posts a CSR with its token and server nonce, and returns the issued
// certificate. A refusal is returned as *Refusal.
func (c *Client) Submit(ctx context.Context, renew bool, csrDER, serverNonce, token []byte) (*x509.Certificate, error) {
	a, err := c.SubmitAnswer(ctx, renew, csrDER, serverNonce, token)
	if err != nil {
		return nil, err
	}
	return a.Certificate, nil
}

// Answer is a successful enrollment: the certificate, and the fleet's MQTT
// endpoints when the server named them (endpoints.go; none from an older
// server, or when its list is malformed: the device then keeps using the
// address it has).
type Answer struct {
	Certificate *x509.Certificate
	MQTT        []string
	// MQTTErr is why a malformed endpoint list was ignored.
	MQTTErr error
}

// SubmitAnswer is Submit, also returning the endpoints the server named.
func (c *Client) SubmitAnswer(ctx context.Context, renew bool, csrDER, serverNonce, token []byte) (*Answer, error) {
	path := PathSimpleEnroll
	if renew {
		path = PathSimpleReenrol
	}
	raw := EncodeRequest(csrDER, serverNonce, token)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+path, bytes.NewReader(raw.Body))
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: %w", err)
	}
	req.Header.Set("Content-Type", raw.ContentType)
	req.Header.Set("Content-Transfer-Encoding", raw.TransferEncoding)
	req.Header.Set(HeaderNonce, raw.Nonce)
	req.Header.Set(HeaderToken, raw.Token)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var r Refusal
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
		if json.Unmarshal(b, &r) != nil || r.Code == "" {
			r = Refusal{Code: Code(resp.Header.Get(HeaderReason)), Detail: strings.TrimSpace(string(b))}
		}
		if r.Code == "" {
			r.Code = CodeInternal
		}
		return nil, &r
	}
	certs, err := readCertsOnly(resp)
	if err != nil {
		return nil, err
	}
	a := &Answer{Certificate: certs[0]}
	a.MQTT, a.MQTTErr = ParseEndpoints(resp.Header.Get(HeaderMQTTEndpoints))
	return a, nil
}

func readCertsOnly(resp *http.Response) ([]*x509.Certificate, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("deviceproto: enroll: server answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: reply: %w", err)
	}
	der, err := decodeB64(string(b), 48<<10)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: reply: %w", err)
	}
	return ParseCertsOnly(der)
}

// AttestFunc returns a PSA attestation token whose nonce claim is nonce.
type AttestFunc func(ctx context.Context, nonce []byte) ([]byte, error)

// Enroll runs the whole exchange: nonce, CSR for key, token over
// Binding(nonce, key), submission. renew selects simplereenroll.
func (c *Client) Enroll(ctx context.Context, key crypto.Signer, rand io.Reader, attestToken AttestFunc, renew bool) (*x509.Certificate, error) {
	a, err := c.EnrollAnswer(ctx, key, rand, attestToken, renew)
	if err != nil {
		return nil, err
	}
	return a.Certificate, nil
}

// EnrollAnswer is Enroll, also returning the endpoints the server named.
func (c *Client) EnrollAnswer(ctx context.Context, key crypto.Signer, rand io.Reader, attestToken AttestFunc, renew bool) (*Answer, error) {
	if key == nil || attestToken == nil {
		return nil, errors.New("deviceproto: enroll: key and attestation function are required")
	}
	nonce, err := c.Nonce(ctx)
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key, rand, "")
	if err != nil {
		return nil, err
	}
	b, err := Binding(nonce, key.Public())
	if err != nil {
		return nil, err
	}
	tok, err := attestToken(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: enroll: attestation: %w", err)
	}
	a, err := c.SubmitAnswer(ctx, renew, csr, nonce, tok)
	if err != nil {
		return nil, err
	}
	if !publicKeyEqual(a.Certificate.PublicKey, key.Public()) {
		return nil, errors.New("deviceproto: enroll: issued certificate is for another key")
	}
	return a, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	x, err1 := x509.MarshalPKIXPublicKey(a)
	y, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
