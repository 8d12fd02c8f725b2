package ownership

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// A voucher is a CBOR array (RFC 8949) of 1 to MaxHops byte strings, each
// holding one hop: a tagged COSE_Sign1 (RFC 9052)
//
//	protected:   {1 (alg): -7 ES256 | -35 ES384,
//	              3 (content type): "application/rampart-voucher-hop+cbor",
//	              4 (kid): bstr, the signer's name for itself (optional, not trusted)}
//	unprotected: {} (ignored)
//	payload:     a hop (Hop) in deterministic CBOR
//	signature:   r || s by the previous owner's key (the manufacturer's for hop 0)
//
// The hops are kept as the exact bytes signed, so the hash each hop names of
// the one before is over bytes every verifier sees alike.

// Limits and fixed values of the format.
const (
	// MaxHops bounds a voucher's chain (maker, distributors, operators).
	MaxHops = 16
	// MaxHopSize bounds one hop's COSE_Sign1.
	MaxHopSize = 2 << 10
	// MaxVoucherSize bounds a whole voucher.
	MaxVoucherSize = MaxHops*(MaxHopSize+3) + 1
	// HopContentType is a hop's protected content type.
	HopContentType = "application/rampart-voucher-hop+cbor"
	// NonceSize is the size of a hop's random nonce.
	NonceSize = 16
	// maxInstanceID bounds a device's instance ID (PSA's is 33 bytes).
	maxInstanceID = 64
	// maxKeyDER bounds an owner key's SubjectPublicKeyInfo.
	maxKeyDER = 256
	// maxKeyID bounds a hop's kid.
	maxKeyID = 128
)

// Reasons a voucher or a ticket is refused; errors wrap one of them.
var (
	ErrFormat    = errors.New("ownership: malformed")
	ErrSignature = errors.New("ownership: signature not made by the owner the chain names")
	ErrDevice    = errors.New("ownership: for another device")
	ErrChain     = errors.New("ownership: broken chain (a hop is missing, reordered or from another chain)")
	ErrReplayed  = errors.New("ownership: serial not newer than one already used (replayed)")
	ErrOwner     = errors.New("ownership: the chain ends at another owner")
)

// Hop is one link of the chain: the device, its place in the chain and the
// owner it hands the device to.
type Hop struct {
	// Device is the device's instance ID (PSA: 0x01 and a 32-byte hash).
	Device []byte `cbor:"1,keyasint"`
	// Serial strictly increases from one hop to the next of a chain (and
	// so across every transfer of a device): a verifier that remembers the
	// last serial it accepted refuses an older chain.
	Serial uint64 `cbor:"2,keyasint"`
	// Prev is the SHA-256 of the previous hop's COSE_Sign1 bytes; empty in
	// hop 0.
	Prev []byte `cbor:"3,keyasint,omitempty"`
	// Owner is the next owner's public key, DER SubjectPublicKeyInfo
	// (ECDSA P-256 or P-384).
	Owner []byte `cbor:"4,keyasint"`
	// Nonce is random: two hops with the same fields still differ.
	Nonce []byte `cbor:"5,keyasint"`
	// Issued is when the hop was signed (Unix seconds); informative.
	Issued int64 `cbor:"6,keyasint"`
}

// Voucher is a decoded voucher. Nothing in it is trusted before Verify
// returned it without error.
type Voucher struct {
	// Raw are the hops' COSE_Sign1 bytes, as signed.
	Raw [][]byte
	// Hops are the hops' payloads, decoded.
	Hops []Hop
	// KeyIDs are the hops' protected kids ("" if absent); not trusted.
	KeyIDs []string

	msgs []*cose.Sign1Message
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxArrayElements:  MaxHops,
		MaxMapPairs:       16,
		MaxNestedLevels:   4,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Final is the last hop: the device's current owner according to the chain.
func (v *Voucher) Final() Hop { return v.Hops[len(v.Hops)-1] }

// Serial is the final hop's serial: the voucher's place in the device's
// history of owners.
func (v *Voucher) Serial() uint64 { return v.Final().Serial }

// Marshal encodes the voucher (its hops' bytes as signed).
func (v *Voucher) Marshal() ([]byte, error) {
	return encMode.Marshal(v.Raw)
}

// Parse decodes a voucher without verifying it: the array, every hop's
// envelope and payload. It refuses anything outside the format's limits,
// trailing data and non-deterministic payload encodings.
func Parse(b []byte) (*Voucher, error) {
	if len(b) > MaxVoucherSize {
		return nil, fmt.Errorf("%w: voucher of %d bytes, limit %d", ErrFormat, len(b), MaxVoucherSize)
	}
	var raw [][]byte
	rest, err := decMode.UnmarshalFirst(b, &raw)
	if err != nil {
		return nil, fmt.Errorf("%w: voucher: %v", ErrFormat, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: voucher: %d bytes after it", ErrFormat, len(rest))
	}
	if len(raw) == 0 || len(raw) > MaxHops {
		return nil, fmt.Errorf("%w: voucher: %d hops, want 1 to %d", ErrFormat, len(raw), MaxHops)
	}
	if again, err := encMode.Marshal(raw); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: voucher: not in deterministic CBOR", ErrFormat)
	}
	v := &Voucher{Raw: raw}
	for i, h := range raw {
		msg, hop, kid, err := parseHop(h)
		if err != nil {
			return nil, fmt.Errorf("hop %d: %w", i, err)
		}
		v.msgs = append(v.msgs, msg)
		v.Hops = append(v.Hops, hop)
		v.KeyIDs = append(v.KeyIDs, kid)
	}
	return v, nil
}

// parseHop decodes one hop's COSE_Sign1 and its payload.
func parseHop(b []byte) (*cose.Sign1Message, Hop, string, error) {
	var hop Hop
	if len(b) > MaxHopSize {
		return nil, hop, "", fmt.Errorf("%w: hop of %d bytes, limit %d", ErrFormat, len(b), MaxHopSize)
	}
	msg := cose.NewSign1Message()
	if err := msg.UnmarshalCBOR(b); err != nil {
		return nil, hop, "", fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if ct, _ := msg.Headers.Protected[cose.HeaderLabelContentType].(string); ct != HopContentType {
		return nil, hop, "", fmt.Errorf("%w: content type %v, want %s", ErrFormat, msg.Headers.Protected[cose.HeaderLabelContentType], HopContentType)
	}
	kid, err := keyID(msg.Headers.Protected)
	if err != nil {
		return nil, hop, "", err
	}
	if err := decodePayload(msg.Payload, &hop); err != nil {
		return nil, hop, "", err
	}
	return msg, hop, kid, hop.check()
}

// keyID reads the optional protected kid.
func keyID(h cose.ProtectedHeader) (string, error) {
	v, ok := h[cose.HeaderLabelKeyID]
	if !ok {
		return "", nil
	}
	b, ok := v.([]byte)
	if !ok || len(b) > maxKeyID {
		return "", fmt.Errorf("%w: kid is not a byte string of at most %d bytes", ErrFormat, maxKeyID)
	}
	return string(b), nil
}

// decodePayload decodes a hop's or a ticket's payload strictly and refuses
// any encoding but the deterministic one.
func decodePayload(p []byte, into any) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty payload", ErrFormat)
	}
	if err := decMode.Unmarshal(p, into); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrFormat, err)
	}
	again, err := encMode.Marshal(into)
	if err != nil || !bytes.Equal(again, p) {
		return fmt.Errorf("%w: payload not in deterministic CBOR", ErrFormat)
	}
	return nil
}

// check validates a hop's fields on their own.
func (h Hop) check() error {
	switch {
	case len(h.Device) == 0 || len(h.Device) > maxInstanceID:
		return fmt.Errorf("%w: device: %d bytes, want 1 to %d", ErrFormat, len(h.Device), maxInstanceID)
	case len(h.Prev) != 0 && len(h.Prev) != sha256.Size:
		return fmt.Errorf("%w: prev: %d bytes, want %d", ErrFormat, len(h.Prev), sha256.Size)
	case len(h.Owner) == 0 || len(h.Owner) > maxKeyDER:
		return fmt.Errorf("%w: owner: %d bytes, want 1 to %d", ErrFormat, len(h.Owner), maxKeyDER)
	case len(h.Nonce) != NonceSize:
		return fmt.Errorf("%w: nonce: %d bytes, want %d", ErrFormat, len(h.Nonce), NonceSize)
	case h.Serial == 0:
		return fmt.Errorf("%w: serial 0", ErrFormat)
	}
	if _, err := ParseOwnerKey(h.Owner); err != nil {
		return err
	}
	return nil
}

// hopHash is what the next hop names in Prev.
func hopHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}
