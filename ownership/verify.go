package ownership

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"sort"

	"github.com/veraison/go-cose"
)

// Policy is what a verifier checks a voucher against.
type Policy struct {
	// Manufacturers are the manufacturer endorsement keys the verifier
	// trusts (name -> key): hop 0 must verify with one of them. A device
	// that does not know its manufacturer's key leaves it empty and
	// relies on its current fleet, which checked hop 0 on import
	// (docs/ownership-and-rotation.md).
	Manufacturers map[string]*ecdsa.PublicKey
	// Device is the instance ID every hop must name.
	Device []byte
	// Owner, when set, is the key the chain must end at.
	Owner crypto.PublicKey
	// Via, when set, is a key that must own the device at the hop before
	// the final one: the seller a transfer comes from.
	Via crypto.PublicKey
	// After is the last serial the verifier accepted for this device; a
	// voucher whose final serial is not greater is a replay.
	After uint64
}

// Verified is the outcome of a verification.
type Verified struct {
	Manufacturer string           // the trusted key that signed hop 0 ("" when not checked)
	Owner        *ecdsa.PublicKey // the final owner
	Serial       uint64           // the final serial
}

// Verify checks a voucher's bytes against p: every hop for p.Device, each
// naming the hash of the one before and a greater serial, hop 0 signed by a
// trusted manufacturer key (when p.Manufacturers is set), every later hop
// by the owner the hop before names, the chain ending at p.Owner, and the
// final serial after p.After. Errors wrap ErrFormat, ErrSignature,
// ErrDevice, ErrChain, ErrOwner or ErrReplayed.
func Verify(b []byte, p Policy) (*Voucher, *Verified, error) {
	v, err := Parse(b)
	if err != nil {
		return nil, nil, err
	}
	out, err := v.verify(p)
	if err != nil {
		return nil, nil, err
	}
	return v, out, nil
}

func (v *Voucher) verify(p Policy) (*Verified, error) {
	if len(p.Device) == 0 {
		return nil, errors.New("ownership: verify: no device given")
	}
	out := &Verified{}
	for i, hop := range v.Hops {
		if !bytes.Equal(hop.Device, p.Device) {
			return nil, fmt.Errorf("%w: hop %d names device %x", ErrDevice, i, hop.Device)
		}
		if i == 0 {
			if len(hop.Prev) != 0 {
				return nil, fmt.Errorf("%w: hop 0 names a previous hop", ErrChain)
			}
			who, err := verifyFirst(v.msgs[0], p.Manufacturers)
			if err != nil {
				return nil, err
			}
			out.Manufacturer = who
			continue
		}
		prev := v.Hops[i-1]
		if !bytes.Equal(hop.Prev, hopHash(v.Raw[i-1])) {
			return nil, fmt.Errorf("%w: hop %d does not follow hop %d", ErrChain, i, i-1)
		}
		if hop.Serial <= prev.Serial {
			return nil, fmt.Errorf("%w: hop %d has serial %d after %d", ErrChain, i, hop.Serial, prev.Serial)
		}
		key, err := ParseOwnerKey(prev.Owner)
		if err != nil {
			return nil, err
		}
		if err := verifyWith(v.msgs[i], key); err != nil {
			return nil, fmt.Errorf("hop %d: %w", i, err)
		}
	}
	final := v.Final()
	owner, err := ParseOwnerKey(final.Owner)
	if err != nil {
		return nil, err
	}
	if p.Owner != nil && !owner.Equal(p.Owner) {
		return nil, fmt.Errorf("%w: not the expected owner", ErrOwner)
	}
	if p.Via != nil && (len(v.Hops) < 2 || !sameKey(v.Hops[len(v.Hops)-2].Owner, p.Via)) {
		return nil, fmt.Errorf("%w: the device does not come from the expected seller", ErrOwner)
	}
	if final.Serial <= p.After {
		return nil, fmt.Errorf("%w: serial %d, last used %d", ErrReplayed, final.Serial, p.After)
	}
	out.Owner, out.Serial = owner, final.Serial
	return out, nil
}

// verifyFirst checks hop 0 against the trusted manufacturer keys, in name
// order so the answer does not depend on map order; with none given it
// checks nothing and names nobody.
func verifyFirst(msg *cose.Sign1Message, keys map[string]*ecdsa.PublicKey) (string, error) {
	if len(keys) == 0 {
		return "", nil
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if verifyWith(msg, keys[n]) == nil {
			return n, nil
		}
	}
	return "", fmt.Errorf("hop 0: %w: no trusted manufacturer key verifies it", ErrSignature)
}
