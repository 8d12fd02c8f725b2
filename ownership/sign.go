package ownership

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

type randReader = io.Reader

// Signing is what signing a hop needs besides the keys; zero values take
// crypto/rand and time.Now.
type Signing struct {
	Name string           // the signer's name for itself (protected kid, not trusted)
	Rand io.Reader        // nonce and signature randomness
	Now  func() time.Time // the hop's Issued
}

func (s Signing) rand() io.Reader {
	if s.Rand == nil {
		return rand.Reader
	}
	return s.Rand
}

func (s Signing) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Issue starts a device's voucher: hop 0, signed by the manufacturer's
// endorsement key, handing the device (instanceID) to owner at serial 1.
func Issue(manufacturer crypto.Signer, instanceID []byte, owner crypto.PublicKey, s Signing) (*Voucher, error) {
	return appendHop(&Voucher{}, manufacturer, Hop{Device: instanceID, Serial: 1}, owner, s)
}

// Extend hands the device a voucher names to a new owner: a hop signed by
// the current owner's key (the voucher's final owner, which ownerKey must
// be) with the next serial. It does not verify the chain before it (the
// seller's fleet verified it on import); it never changes v.
func Extend(v *Voucher, ownerKey crypto.Signer, next crypto.PublicKey, s Signing) (*Voucher, error) {
	if v == nil || len(v.Raw) == 0 {
		return nil, errors.New("ownership: extend: empty voucher")
	}
	if len(v.Raw) >= MaxHops {
		return nil, fmt.Errorf("ownership: extend: the voucher has %d hops, the limit", MaxHops)
	}
	last := v.Final()
	if !sameKey(last.Owner, ownerKey.Public()) {
		return nil, fmt.Errorf("%w: the signing key is not the voucher's final owner", ErrOwner)
	}
	w := &Voucher{
		Raw:    append([][]byte(nil), v.Raw...),
		Hops:   append([]Hop(nil), v.Hops...),
		KeyIDs: append([]string(nil), v.KeyIDs...),
	}
	hop := Hop{Device: last.Device, Serial: last.Serial + 1, Prev: hopHash(v.Raw[len(v.Raw)-1])}
	return appendHop(w, ownerKey, hop, next, s)
}

// appendHop completes hop (owner, nonce, time), signs it and appends it.
func appendHop(v *Voucher, key crypto.Signer, hop Hop, owner crypto.PublicKey, s Signing) (*Voucher, error) {
	der, err := MarshalOwnerKey(owner)
	if err != nil {
		return nil, err
	}
	hop.Owner = der
	hop.Nonce = make([]byte, NonceSize)
	if _, err := io.ReadFull(s.rand(), hop.Nonce); err != nil {
		return nil, fmt.Errorf("ownership: nonce: %w", err)
	}
	hop.Issued = s.now().Unix()
	if err := hop.check(); err != nil {
		return nil, err
	}
	payload, err := encMode.Marshal(hop)
	if err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	raw, err := signCOSE(key, HopContentType, s.Name, payload, s.rand())
	if err != nil {
		return nil, err
	}
	v.Raw = append(v.Raw, raw)
	v.Hops = append(v.Hops, hop)
	v.KeyIDs = append(v.KeyIDs, s.Name)
	return v, nil
}
