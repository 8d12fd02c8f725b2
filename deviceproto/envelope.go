package deviceproto

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/veraison/go-cose"
)

// envelope is a decoded message of the job signer: a job, a trust message
// or a transfer message, told apart by their protected content type
// (jobsig.go describes the format). JobSigner.seal makes every one of them
// and openEnvelope decodes every one, so the three kinds cannot drift in
// what they accept. Nothing in an envelope is trusted before verify
// returned nil.
type envelope struct {
	msg    cose.Sign1Message
	alg    cose.Algorithm
	signer *x509.Certificate // the protected x5chain certificate
}

// openEnvelope decodes b as a message of content type ct of at most limit
// bytes, without verifying it: a tagged COSE_Sign1 (an unsigned message is
// refused), no critical header parameters, ES256 or ES384, the content
// type, and one signer certificate in the protected x5chain.
func openEnvelope(b []byte, ct string, limit int) (*envelope, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrJobEnvelope, fmt.Sprintf(format, args...))
	}
	if len(b) > limit {
		return nil, bad("%d bytes, more than %d", len(b), limit)
	}
	if len(b) == 0 || b[0] != 0xd2 {
		return nil, bad("not a tagged COSE_Sign1 (an unsigned message is refused)")
	}
	e := &envelope{}
	if err := e.msg.UnmarshalCBOR(b); err != nil {
		return nil, bad("%v", err)
	}
	h := e.msg.Headers.Protected
	if _, ok := h[cose.HeaderLabelCritical]; ok {
		return nil, bad("critical header parameters are not supported")
	}
	alg, err := h.Algorithm()
	if err != nil || (alg != cose.AlgorithmES256 && alg != cose.AlgorithmES384) {
		return nil, bad("algorithm %v (%v), want ES256 or ES384", alg, err)
	}
	e.alg = alg
	if got, _ := h[cose.HeaderLabelContentType].(string); got != ct {
		return nil, bad("content type %v, want %q", h[cose.HeaderLabelContentType], ct)
	}
	der, ok := h[cose.HeaderLabelX5Chain].([]byte)
	if !ok || len(der) == 0 || len(der) > maxSignerCert {
		return nil, bad("protected x5chain must be one certificate of at most %d bytes", maxSignerCert)
	}
	if e.signer, err = x509.ParseCertificate(der); err != nil {
		return nil, bad("x5chain: %v", err)
	}
	return e, nil
}

// verify checks the signer against p and the signature: the job signer's
// role, its certificate chaining to p.Roots, the device's certificate
// issued by that chain's root (or, with issuers given, by any of them: a
// trust message during a CA rotation), the key's algorithm, and the
// signature itself.
func (e *envelope) verify(p JobPolicy, issuers ...*x509.Certificate) error {
	if p.Roots == nil || p.Device == nil {
		return fmt.Errorf("%w: no trust anchors or device certificate", ErrJobSignature)
	}
	if err := checkSignerRole(e.signer); err != nil {
		return err
	}
	chains, err := e.signer.Verify(x509.VerifyOptions{Roots: p.Roots, CurrentTime: p.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("%w: signer certificate: %v", ErrJobSignature, err)
	}
	if len(issuers) > 0 {
		if !slices.ContainsFunc(issuers, func(c *x509.Certificate) bool { return issued(p.Device, c) }) {
			return fmt.Errorf("%w: this device's certificate was issued by none of the fleet's CAs", ErrJobSignature)
		}
	} else if !slices.ContainsFunc(chains, func(c []*x509.Certificate) bool { return issued(p.Device, c[len(c)-1]) }) {
		return fmt.Errorf("%w: the signer does not chain to the CA that issued this device's certificate", ErrJobSignature)
	}
	keyAlg, err := coseAlg(e.signer.PublicKey)
	if err != nil {
		return err
	}
	if keyAlg != e.alg {
		return fmt.Errorf("%w: signed with %v, the signer's key is for %v", ErrJobSignature, e.alg, keyAlg)
	}
	v, err := cose.NewVerifier(keyAlg, e.signer.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJobSignature, err)
	}
	if err := e.msg.Verify(nil, v); err != nil {
		return fmt.Errorf("%w: %v", ErrJobSignature, err)
	}
	return nil
}

// decodePayload decodes an envelope's JSON payload of at most limit bytes
// into v: known fields only, one object and nothing after it. Errors wrap
// kind.
func decodePayload(payload []byte, limit int, v any, kind error) error {
	if len(payload) > limit {
		return fmt.Errorf("%w: payload of %d bytes, more than %d", kind, len(payload), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", kind, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", kind)
	}
	return nil
}

// hasContentType reports whether b, a message of at most limit bytes on
// the jobs topic, has protected content type ct. Nothing is verified: it
// only routes a message to the decoder that will.
func hasContentType(b []byte, ct string, limit int) bool {
	if len(b) == 0 || len(b) > limit || b[0] != 0xd2 {
		return false
	}
	var msg cose.Sign1Message
	if msg.UnmarshalCBOR(b) != nil {
		return false
	}
	got, _ := msg.Headers.Protected[cose.HeaderLabelContentType].(string)
	return got == ct
}
