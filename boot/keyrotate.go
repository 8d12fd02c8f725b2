package boot

import (
	"bytes"
	"errors"
	"fmt"

	"rampart/image"
)

// TLVRotateKey is Rampart's key-rotation instruction, a protected TLV in
// the vendor range imgtool's --custom-tlv allows (0xa0..0xfffe, not
// predefined): its value is the SHA-256 of the next release key's public
// key bytes (what `imgtool getpubhash` prints). An image signed by a usable
// key and carrying it activates that key and marks its own signer retiring
// once the image is permanent (docs/boot.md §7a).
const TLVRotateKey uint16 = 0x0a51

// Errors for images refused because of their signer's key fuses, each also
// wrapping ErrUnsigned.
var (
	ErrKeyRevoked   = errors.New("boot: signing key revoked")
	ErrKeyNotActive = errors.New("boot: signing key pending: no rotation has activated it")
)

// RotateKeyTLV is the TLV that asks devices to rotate to next (a public
// or private key), for image.SignOptions.CustomTLVs.
func RotateKeyTLV(next any) (image.TLV, error) {
	h, err := image.KeyHash(next, image.SHA256)
	if err != nil {
		return image.TLV{}, fmt.Errorf("boot: rotate key: %w", err)
	}
	return image.TLV{Type: TLVRotateKey, Value: h}, nil
}

// rotateTarget returns the provisioned key index img's rotation TLV names,
// or -1 when it has none. The TLV must be protected (the signature covers
// it), single, 32 bytes, and name a provisioned key other than signer that
// is neither revoked nor retiring.
func (b *Bootloader) rotateTarget(img *image.Image, signer int) (int, error) {
	if len(img.Unprotected.Find(TLVRotateKey)) > 0 {
		return -1, errors.New("rotation TLV outside the protected area")
	}
	found := img.Protected.Find(TLVRotateKey)
	switch {
	case len(found) == 0:
		return -1, nil
	case len(found) > 1:
		return -1, errors.New("more than one rotation TLV")
	case len(found[0].Value) != image.SHA256.Size():
		return -1, fmt.Errorf("rotation TLV of %d bytes, want %d", len(found[0].Value), image.SHA256.Size())
	}
	for k, key := range b.keys {
		h, err := image.KeyHash(key, image.SHA256)
		if err != nil || !bytes.Equal(h, found[0].Value) {
			continue
		}
		switch {
		case k == signer:
			return -1, errors.New("rotation TLV names the image's own signing key")
		case b.counters.Revoked&(1<<uint(k)) != 0:
			return -1, fmt.Errorf("rotation TLV names key %d, which is revoked", k)
		case b.counters.Retiring&(1<<uint(k)) != 0:
			// Rotating back would mark the new key retiring too, and
			// no image could ever complete the revocation.
			return -1, fmt.Errorf("rotation TLV names key %d, which is retiring", k)
		}
		return k, nil
	}
	return -1, fmt.Errorf("rotation TLV names key %x, which is not provisioned", found[0].Value[:8])
}

// checkSigner refuses an image whose signing key's fuses forbid it.
func (b *Bootloader) checkSigner(k int) error {
	if k >= MaxKeys {
		return fmt.Errorf("%w: key %d has no fuses (at most %d keys)", ErrUnsigned, k, MaxKeys)
	}
	if b.counters.KeyUsable(k) {
		return nil
	}
	if b.counters.Revoked&(1<<uint(k)) != 0 {
		return fmt.Errorf("%w: %w: key %d", ErrUnsigned, ErrKeyRevoked, k)
	}
	return fmt.Errorf("%w: %w: key %d", ErrUnsigned, ErrKeyNotActive, k)
}

// applyKeyRotation runs after every image was admitted: a permanent image
// carrying a rotation activates its target and marks its signer retiring;
// then, once every image runs permanently under a usable key that is not
// retiring, the retiring keys are revoked. Each step is one atomic write of
// the OTP block, repeated at the next boot when a power cut prevents it, and
// no step can leave a running image's key unusable.
func (b *Bootloader) applyKeyRotation(st []imageState, res *Result) error {
	for i := range st {
		v := st[i].running
		if v == nil || !st[i].permanent || v.rotateTo < 0 {
			continue
		}
		changed, err := b.counters.rotate(v.keyIndex, v.rotateTo)
		if err != nil {
			return err
		}
		if changed {
			res.Images[i].note("release key %d activated, key %d retiring (rotation TLV)", v.rotateTo, v.keyIndex)
		}
	}
	if b.counters.Retiring&^b.counters.Revoked == 0 {
		return nil
	}
	for i := range st {
		v := st[i].running
		if v == nil || !st[i].permanent || b.counters.Retiring&(1<<uint(v.keyIndex)) != 0 {
			return nil // some image still depends on a retiring key
		}
	}
	n, err := b.counters.revokeRetiring()
	if err != nil {
		return err
	}
	if n > 0 && len(res.Images) > 0 {
		res.Images[0].note("%d retiring release key(s) revoked: every image runs permanently under a newer key", n)
	}
	return nil
}

// applyKeyRotationXIP is applyKeyRotation for direct-XIP and ram-load,
// once every image's slot is chosen and admitted: an image is permanent
// when it runs without revert (chosen means permanent there, as its
// security counter is raised at once) or, with revert, once confirmed
// (image_ok). A test boot of an image carrying a rotation TLV therefore
// changes no fuse, and the image in the other slot, signed by the old key,
// stays bootable until the new image is confirmed.
func (b *Bootloader) applyKeyRotationXIP(choices []xipChoice, res *Result) error {
	st := make([]imageState, len(choices))
	for i, c := range choices {
		st[i].running = c.v
		st[i].permanent = !b.l.xipRevert() || c.imageOK
	}
	return b.applyKeyRotation(st, res)
}
