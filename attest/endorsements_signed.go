package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/veraison/go-cose"
)

// A signed endorsement list is the one format in which a manufacturer hands
// endorsements to a verifier: the factory writes it (`rampart spe provision`,
// `rampart fleet endorsements sign`) and the fleet server imports it. It is a
// tagged COSE_Sign1 (RFC 9052), the envelope PSA verifiers such as Veraison
// already speak:
//
//	protected:   {1 (alg): -7 ES256 | -35 ES384 | -36 ES512,
//	              3 (content type): "application/json",
//	              4 (kid): bstr, the manufacturer's name in UTF-8 (optional)}
//	unprotected: {} (ignored: nothing in it is trusted)
//	payload:     an endorsement list in its file form (ReadEndorsements)
//	signature:   r || s by the manufacturer's ECDSA key
//
// The kid only names the signer as the factory calls itself; a verifier
// decides who signed by which of its trusted keys verifies (VerifyAny).
// Documented in docs/fleet-enrollment.md section 7.

// Limits and fixed values of a signed endorsement list.
const (
	// MaxSignedEndorsementsSize bounds a signed endorsement list: about
	// 20,000 devices of about 800 bytes each.
	MaxSignedEndorsementsSize = 16 << 20
	// SignedEndorsementsContentType is the protected content type.
	SignedEndorsementsContentType = "application/json"
	// maxKeyIDLen bounds the kid (a manufacturer name).
	maxKeyIDLen = MaxTextLen
)

// ErrEndorsementList: the payload of a signed endorsement list is not a
// valid endorsement list (ReadEndorsements refused it).
var ErrEndorsementList = errors.New("attest: bad endorsement list")

// legacySignedFormat is the JSON wrapper fleet/trust imported before the
// COSE form; it is refused with instructions (docs/fleet-enrollment.md).
const legacySignedFormat = "rampart-signed-endorsements/1"

// SignedEndorsements is a decoded signed endorsement list. Nothing in it is
// trusted before Verify or VerifyAny returned it.
type SignedEndorsements struct {
	// KeyID is the protected kid: the manufacturer's name for itself ("" if absent).
	KeyID string
	// Alg is the protected algorithm.
	Alg cose.Algorithm
	// Payload is the endorsement list file, exactly the signed bytes.
	Payload []byte
	// List is Payload parsed; set only once the signature has verified.
	List *EndorsementList

	msg cose.Sign1Message
}

// SignEndorsements signs an endorsement list file (its exact bytes) with the
// manufacturer's ECDSA key (P-256, P-384 or P-521) and returns the tagged
// COSE_Sign1. manufacturer, when not empty, becomes the protected kid. It
// refuses a list that ReadEndorsements would refuse, so that it never signs
// what no verifier accepts.
func SignEndorsements(list []byte, manufacturer string, key crypto.Signer, rand io.Reader) ([]byte, error) {
	if _, err := ReadEndorsements(bytes.NewReader(list)); err != nil {
		return nil, fmt.Errorf("%w: refusing to sign it: %w", ErrEndorsementList, err)
	}
	if err := checkKeyID(manufacturer); err != nil {
		return nil, err
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("attest: manufacturer key: %w", err)
	}
	signer, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	msg.Headers.Protected[cose.HeaderLabelContentType] = SignedEndorsementsContentType
	if manufacturer != "" {
		msg.Headers.Protected[cose.HeaderLabelKeyID] = []byte(manufacturer)
	}
	msg.Payload = list
	if err := msg.Sign(rand, nil, signer); err != nil {
		return nil, fmt.Errorf("attest: signing the endorsement list: %w", err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the signed endorsement list: %w", err)
	}
	if len(out) > MaxSignedEndorsementsSize {
		return nil, fmt.Errorf("attest: signed endorsement list of %d bytes, limit %d (split the list): %w", len(out), MaxSignedEndorsementsSize, ErrOversized)
	}
	return out, nil
}

func checkKeyID(name string) error {
	if len(name) > maxKeyIDLen || !utf8.ValidString(name) {
		return envErr("kid (manufacturer name) must be UTF-8 of at most %d bytes", maxKeyIDLen)
	}
	return nil
}

// ParseSignedEndorsements decodes a signed endorsement list without
// verifying it: the envelope, the algorithm, the content type and the kid.
// Errors wrap ErrEnvelope (and ErrOversized for a too large input) and say
// what was wrong, including when the input is the retired JSON wrapper or
// an unsigned list.
func ParseSignedEndorsements(b []byte) (*SignedEndorsements, error) {
	if len(b) > MaxSignedEndorsementsSize {
		return nil, &signedErr{fmt.Sprintf("%d bytes, limit %d", len(b), MaxSignedEndorsementsSize), []error{ErrEnvelope, ErrOversized}}
	}
	if len(b) == 0 {
		return nil, envErr("empty input")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return nil, notCOSE(t)
	}
	if b[0] != 0xd2 {
		return nil, envErr("starts with 0x%02x, want 0xd2 (CBOR tag 18: a tagged COSE_Sign1)", b[0])
	}
	s := &SignedEndorsements{}
	if err := s.msg.UnmarshalCBOR(b); err != nil {
		return nil, envErr("not a tagged COSE_Sign1: %v", err)
	}
	h := s.msg.Headers.Protected
	if _, ok := h[cose.HeaderLabelCritical]; ok {
		return nil, envErr("critical header parameters are not supported")
	}
	alg, err := h.Algorithm()
	if err != nil {
		return nil, envErr("protected header has no usable alg: %v", err)
	}
	switch alg {
	case cose.AlgorithmES256, cose.AlgorithmES384, cose.AlgorithmES512:
	default:
		return nil, envErr("algorithm %v, want ES256, ES384 or ES512", alg)
	}
	s.Alg = alg
	switch ct := h[cose.HeaderLabelContentType].(type) {
	case string:
		if ct != SignedEndorsementsContentType {
			return nil, envErr("content type %q, want %q", ct, SignedEndorsementsContentType)
		}
	case nil:
		return nil, envErr("protected header has no content type, want %q", SignedEndorsementsContentType)
	default:
		return nil, envErr("content type %v (CoAP content format), want %q", ct, SignedEndorsementsContentType)
	}
	if kid, ok := h[cose.HeaderLabelKeyID]; ok {
		k, _ := kid.([]byte) // go-cose checked it is a byte string
		if err := checkKeyID(string(k)); err != nil {
			return nil, err
		}
		s.KeyID = string(k)
	}
	if len(s.msg.Payload) == 0 {
		return nil, envErr("no attached payload")
	}
	s.Payload = s.msg.Payload
	return s, nil
}

// notCOSE explains a JSON input: the retired wrapper or an unsigned list.
func notCOSE(b []byte) error {
	var probe struct {
		Format       string          `json:"format"`
		Endorsements json.RawMessage `json:"endorsements"`
	}
	json.Unmarshal(b, &probe) // best effort: only to name what was given
	switch {
	case probe.Format == legacySignedFormat:
		return envErr("this is the retired %q JSON wrapper; the fleet imports only the COSE_Sign1 that `rampart spe provision` writes: take the list out (jq -r .payload FILE | base64 -d > list.json) and sign it again with `rampart fleet endorsements sign --key MFR.pem --manufacturer NAME --out list.cose list.json`", legacySignedFormat)
	case probe.Endorsements != nil:
		return envErr("this is an unsigned endorsement list; sign it with the manufacturer key (`rampart fleet endorsements sign`) or give the .cose file `rampart spe provision` wrote beside it")
	}
	return envErr("JSON input; want a tagged COSE_Sign1 (CBOR)")
}

// Verify checks the signature with the manufacturer's public key, then
// parses the payload. Errors wrap ErrSignature, ErrKey or ErrEndorsementList.
func (s *SignedEndorsements) Verify(key *ecdsa.PublicKey) (*EndorsementList, error) {
	if err := s.checkSignature(key); err != nil {
		return nil, err
	}
	return s.parseList()
}

func (s *SignedEndorsements) checkSignature(key *ecdsa.PublicKey) error {
	keyAlg, err := algorithmFor(key)
	if err != nil {
		return err
	}
	if keyAlg != s.Alg {
		return fmt.Errorf("%w: signed endorsements: signed with %v but the key is for %v", ErrSignature, s.Alg, keyAlg)
	}
	v, err := cose.NewVerifier(keyAlg, key)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := s.msg.Verify(nil, v); err != nil {
		return fmt.Errorf("%w: signed endorsements: %v", ErrSignature, err)
	}
	return nil
}

func (s *SignedEndorsements) parseList() (*EndorsementList, error) {
	l, err := ReadEndorsements(bytes.NewReader(s.Payload))
	if err != nil {
		return nil, fmt.Errorf("%w: signed endorsements: the signed payload: %w", ErrEndorsementList, err)
	}
	s.List = l
	return l, nil
}

// VerifySignedEndorsements decodes b and verifies it with one manufacturer key.
func VerifySignedEndorsements(b []byte, key *ecdsa.PublicKey) (*SignedEndorsements, error) {
	s, err := ParseSignedEndorsements(b)
	if err != nil {
		return nil, err
	}
	if _, err := s.Verify(key); err != nil {
		return nil, err
	}
	return s, nil
}

// VerifyAny decodes b and verifies it with the first of the trusted keys
// (by name) that verifies it: the key named by the kid first, then the
// others in name order. It returns the name of that key, which is who the
// verifier records as the manufacturer (the kid is only the signer's claim).
// When none verifies the error wraps ErrSignature.
func VerifyAny(b []byte, keys map[string]*ecdsa.PublicKey) (string, *SignedEndorsements, error) {
	s, err := ParseSignedEndorsements(b)
	if err != nil {
		return "", nil, err
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		if n != s.KeyID {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if _, ok := keys[s.KeyID]; ok {
		names = append([]string{s.KeyID}, names...)
	}
	for _, n := range names {
		if keys[n] == nil || s.checkSignature(keys[n]) != nil {
			continue
		}
		if _, err := s.parseList(); err != nil {
			return "", nil, err
		}
		return n, s, nil
	}
	return "", nil, fmt.Errorf("%w: signed endorsements (%v, kid %q): none of the %d trusted manufacturer keys verifies it", ErrSignature, s.Alg, s.KeyID, len(keys))
}

// signedErr names what was wrong with a signed endorsement list and wraps
// the sentinels (ErrEnvelope, maybe ErrOversized) without ErrEnvelope's
// "token" wording.
type signedErr struct {
	msg  string
	errs []error
}

func (e *signedErr) Error() string   { return "attest: signed endorsements: " + e.msg }
func (e *signedErr) Unwrap() []error { return e.errs }

func envErr(format string, args ...any) error {
	return &signedErr{fmt.Sprintf(format, args...), []error{ErrEnvelope}}
}
