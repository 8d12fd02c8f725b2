package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/veraison/go-cose"

	"rampart/internal/cborscan"
)

// envelope is a decoded COSE_Sign1 (RFC 9052 section 4.2):
//
//	COSE_Sign1_Tagged = #6.18([protected: bstr .cbor header_map,
//	                           unprotected: header_map, payload: bstr, signature: bstr])
//
// Every slice aliases the token; Verify clones the payload before handing
// claims to the caller.
type envelope struct {
	alg       cose.Algorithm
	protected []byte // the protected header map's bytes (the content of the bstr)
	payload   []byte
	signature []byte
}

const (
	headerAlg  = 1 // COSE header label alg
	headerCrit = 2 // COSE header label crit
	tagSign1   = 18
	tagMac0    = 17
	tagCWT     = 61
)

// decodeEnvelope checks that token is one tagged COSE_Sign1 with an ECDSA
// algorithm in its protected header, no critical header parameters and an
// attached payload. Unprotected header parameters are ignored (nothing in
// them is trusted).
func decodeEnvelope(token []byte) (*envelope, error) {
	if len(token) == 0 {
		return nil, fmt.Errorf("%w: empty token", ErrEnvelope)
	}
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit %d: %w", ErrEnvelope, len(token), MaxTokenSize, ErrOversized)
	}
	mt, tag, n, err := cborscan.Head(token)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed CBOR: %v", ErrEnvelope, err)
	}
	switch {
	case mt == cborscan.Array:
		return nil, fmt.Errorf("%w: untagged COSE_Sign1; want tag 18", ErrEnvelope)
	case mt != cborscan.Tag:
		return nil, fmt.Errorf("%w: a CBOR %s, want COSE_Sign1 (tag 18)", ErrEnvelope, cborscan.MajorName(mt))
	case tag == tagMac0:
		return nil, fmt.Errorf("%w: COSE_Mac0 (tag 17, symmetric attestation key) is not supported; want COSE_Sign1 (tag 18)", ErrEnvelope)
	case tag == tagCWT:
		return nil, fmt.Errorf("%w: CWT tag 61 is not used by PSA tokens; want COSE_Sign1 tag 18 at the top", ErrEnvelope)
	case tag != tagSign1:
		return nil, fmt.Errorf("%w: CBOR tag %d, want 18 (COSE_Sign1)", ErrEnvelope, tag)
	}
	items, size, err := readArray(token[n:], "COSE_Sign1", 4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	if len(items) != 4 {
		return nil, fmt.Errorf("%w: an array of %d, want 4 (protected, unprotected, payload, signature)", ErrEnvelope, len(items))
	}
	if n+size != len(token) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the COSE_Sign1", ErrEnvelope, len(token)-n-size)
	}
	e := &envelope{}
	if major(items[0]) != cborscan.Bytes {
		return nil, fmt.Errorf("%w: protected header is a %s, want a byte string", ErrEnvelope, cborscan.MajorName(major(items[0])))
	}
	e.protected = cborscan.Content(items[0])
	if major(items[1]) != cborscan.Map {
		return nil, fmt.Errorf("%w: unprotected header is a %s, want a map", ErrEnvelope, cborscan.MajorName(major(items[1])))
	}
	if major(items[2]) != cborscan.Bytes {
		return nil, fmt.Errorf("%w: payload is a %s, want an attached byte string", ErrEnvelope, cborscan.MajorName(major(items[2])))
	}
	e.payload = cborscan.Content(items[2])
	if len(e.payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrEnvelope)
	}
	if major(items[3]) != cborscan.Bytes {
		return nil, fmt.Errorf("%w: signature is a %s, want a byte string", ErrEnvelope, cborscan.MajorName(major(items[3])))
	}
	e.signature = cborscan.Content(items[3])
	if e.alg, err = protectedAlg(e.protected); err != nil {
		return nil, err
	}
	return e, nil
}

// protectedAlg reads the algorithm from the protected header map.
func protectedAlg(b []byte) (cose.Algorithm, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty protected header, want alg", ErrEnvelope)
	}
	var buf [4]cborscan.Entry
	h, err := readMap(b, "protected-header", 16, buf[:0])
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	if _, ok := cborscan.Lookup(h, headerCrit); ok {
		return 0, fmt.Errorf("%w: critical header parameters are not supported", ErrEnvelope)
	}
	raw, ok := cborscan.Lookup(h, headerAlg)
	if !ok {
		return 0, fmt.Errorf("%w: protected header has no alg", ErrEnvelope)
	}
	v, err := decodeInt("alg", raw)
	if err != nil {
		return 0, fmt.Errorf("%w: protected header alg is not an integer", ErrEnvelope)
	}
	switch alg := cose.Algorithm(v); alg {
	case cose.AlgorithmES256, cose.AlgorithmES384, cose.AlgorithmES512:
		return alg, nil
	default:
		return 0, fmt.Errorf("%w: algorithm %v, want ES256, ES384 or ES512", ErrEnvelope, alg)
	}
}

// digest hashes the Sig_structure ["Signature1", protected, h”, payload]
// (RFC 9052 section 4.4) in its deterministic encoding, as go-cose builds it,
// without building it: byte strings get preferred-length heads.
func (e *envelope) digest() ([]byte, error) {
	var h hash.Hash
	switch e.alg {
	case cose.AlgorithmES256:
		h = sha256.New()
	case cose.AlgorithmES384:
		h = sha512.New384()
	case cose.AlgorithmES512:
		h = sha512.New()
	default:
		return nil, fmt.Errorf("%w: algorithm %v", ErrEnvelope, e.alg)
	}
	var hdr [9]byte
	h.Write([]byte("\x84\x6aSignature1"))
	h.Write(bstrHead(hdr[:0], len(e.protected)))
	h.Write(e.protected)
	h.Write([]byte{0x40}) // external_aad: empty
	h.Write(bstrHead(hdr[:0], len(e.payload)))
	h.Write(e.payload)
	return h.Sum(nil), nil
}

// bstrHead appends the preferred (shortest) byte-string head for length n.
func bstrHead(dst []byte, n int) []byte {
	switch {
	case n < 24:
		return append(dst, 0x40|byte(n))
	case n <= 0xff:
		return append(dst, 0x58, byte(n))
	case n <= 0xffff:
		return append(dst, 0x59, byte(n>>8), byte(n))
	default:
		return append(dst, 0x5a, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// verifySignature checks e's signature with key. A COSE ECDSA signature is
// r || s, each as long as the curve's order (RFC 9053 section 2.1); it is
// checked with crypto/ecdsa over the Sig_structure digest (TestGoCoseAgrees
// and FuzzParse hold this path to go-cose's verifier).
func (e *envelope) verifySignature(key crypto.PublicKey) error {
	keyAlg, err := algorithmFor(key)
	if err != nil {
		return err
	}
	if keyAlg != e.alg {
		return fmt.Errorf("%w: token is signed with %v but the key is for %v", ErrSignature, e.alg, keyAlg)
	}
	pub := key.(*ecdsa.PublicKey) // algorithmFor accepted it
	n := (pub.Curve.Params().N.BitLen() + 7) / 8
	if len(e.signature) != 2*n {
		return fmt.Errorf("%w: signature is %d bytes, want %d for %v", ErrSignature, len(e.signature), 2*n, e.alg)
	}
	var d []byte
	var d256 [sha256.Size]byte
	if e.alg == cose.AlgorithmES256 && e.digestES256(&d256) {
		d = d256[:]
	} else if d, err = e.digest(); err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(pub, d, asn1Signature(e.signature[:n], e.signature[n:])) {
		return fmt.Errorf("%w: the signature does not match the key", ErrSignature)
	}
	return nil
}

// asn1Signature encodes r and s (big-endian, unsigned, at most 66 bytes
// each) as the DER ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } that
// crypto/ecdsa verifies.
func asn1Signature(r, s []byte) []byte {
	ri, si := asn1Uint(r), asn1Uint(s)
	body := len(ri) + len(si) // at most 2*(2+67) = 138
	out := make([]byte, 0, 3+body)
	if body < 0x80 {
		out = append(out, 0x30, byte(body))
	} else {
		out = append(out, 0x30, 0x81, byte(body))
	}
	return append(append(out, ri...), si...)
}

func asn1Uint(v []byte) []byte {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	pad := len(v) == 0 || v[0]&0x80 != 0
	out := make([]byte, 0, 3+len(v))
	if pad {
		out = append(out, 0x02, byte(len(v)+1), 0)
	} else {
		out = append(out, 0x02, byte(len(v)))
	}
	return append(out, v...)
}
