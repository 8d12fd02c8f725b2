package boot

import (
	"fmt"

	"rampart/image"
)

// decryptInRAM decrypts the body of img, already copied whole into ram,
// when it is encrypted: ram-load with encrypted_images decrypts into RAM
// from either slot, as MCUboot's boot_decrypt_and_copy_image_to_sram, and
// the image is then validated there as plaintext. The flash slot keeps the
// ciphertext. As MCUboot, the copy stays in RAM when the body key cannot be
// unwrapped (the slot is then erased) and is cleared only when the image
// fails validation.
func (b *Bootloader) decryptInRAM(img *image.Image, ram []byte) error {
	h := img.Header
	if !h.Flags.Encrypted() || !b.l.encrypted {
		return nil
	}
	if b.decryptKey == nil {
		return fmt.Errorf("%w: no decrypt key is provisioned", ErrEncryptedImage)
	}
	k, err := b.l.unwrap(img, b.decryptKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncryptedImage, err)
	}
	c, err := newBodyCipher(k, &h)
	if err != nil {
		return err
	}
	c.apply(0, ram)
	return nil
}
