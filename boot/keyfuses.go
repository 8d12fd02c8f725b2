package boot

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"rampart/internal/keyfuse"
)

// MaxKeys bounds the provisioned key set: each key has one bit in each
// key-fuse word.
const MaxKeys = keyfuse.MaxKeys

// ErrKeyFuse is returned for a key-fuse operation on a key index out of range.
var ErrKeyFuse = errors.New("boot: otp: key fuse")

// KeyFuses are the release keys' one-way bits, one bit per key of the
// provisioned set (its index: the keys directory in name order, fixed at the
// factory). A bit is only ever set, as a programmed fuse. A key is usable
// unless it is revoked, or pending (provisioned as a next key) and not yet
// activated by a rotation (docs/boot.md §7a):
//
//   - Pending: set at the factory for a next key; until Activated, images
//     it signs are refused.
//   - Activated: set when a permanent image signed by a usable key carries
//     the rotation TLV naming this key.
//   - Retiring: set on that image's signer at the same time; still usable.
//   - Revoked: set on every retiring key once every image runs permanently
//     signed by a usable, non-retiring key; its images are refused for ever.
type KeyFuses struct {
	Pending   uint32 `json:"key_pending,omitempty"`
	Activated uint32 `json:"key_activated,omitempty"`
	Retiring  uint32 `json:"key_retiring,omitempty"`
	Revoked   uint32 `json:"key_revoked,omitempty"`
}

func keyBit(k int) (uint32, error) {
	if k < 0 || k >= MaxKeys {
		return 0, fmt.Errorf("%w: key index %d out of range 0..%d", ErrKeyFuse, k, MaxKeys-1)
	}
	return 1 << uint(k), nil
}

// KeyUsable reports whether key k may sign images that boot.
func (f KeyFuses) KeyUsable(k int) bool { return keyfuse.Words(f).Usable(k) }

// KeyStatus names key k's state: active, pending, retiring or revoked.
func (f KeyFuses) KeyStatus(k int) string { return keyfuse.Words(f).Status(k) }

// KeyStatuses names the state of each of n keys, "0:active 1:pending".
func (f KeyFuses) KeyStatuses(n int) string {
	var s []string
	for k := range n {
		s = append(s, fmt.Sprintf("%d:%s", k, f.KeyStatus(k)))
	}
	return strings.Join(s, " ")
}

// MarkPending programs key k's pending fuse: the factory provisions k as a
// next release key, trusted only once a rotation activates it. It can only
// take trust away, so it is safe at any time.
func (c *Counters) MarkPending(k int) error {
	b, err := keyBit(k)
	if err != nil {
		return err
	}
	if c.Pending&b != 0 {
		return nil
	}
	return c.programKeys(func(f *KeyFuses) { f.Pending |= b })
}

// programKeys applies set to the key fuses and writes the OTP block; when
// the write fails the fuses are as before, so that what the bootloader
// trusts is what the block holds and the next boot programs them again.
func (c *Counters) programKeys(set func(*KeyFuses)) error {
	before := c.KeyFuses
	set(&c.KeyFuses)
	if err := c.save(); err != nil {
		c.KeyFuses = before
		return err
	}
	return nil
}

// rotate activates key to and marks key from retiring, in one write of the
// OTP block; changed reports whether a fuse was programmed.
func (c *Counters) rotate(from, to int) (changed bool, err error) {
	fb, err := keyBit(from)
	if err != nil {
		return false, err
	}
	tb, err := keyBit(to)
	if err != nil {
		return false, err
	}
	if c.Activated&tb != 0 && c.Retiring&fb != 0 {
		return false, nil
	}
	return true, c.programKeys(func(f *KeyFuses) { f.Activated |= tb; f.Retiring |= fb })
}

// revokeRetiring programs the revoked fuse of every retiring key and
// returns how many were newly revoked.
func (c *Counters) revokeRetiring() (int, error) {
	n := bits.OnesCount32(c.Retiring &^ c.Revoked)
	if n == 0 {
		return 0, nil
	}
	return n, c.programKeys(func(f *KeyFuses) { f.Revoked |= f.Retiring })
}
