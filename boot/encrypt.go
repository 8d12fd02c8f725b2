package boot

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"rampart/image"
)

// Encrypted images (MCUBOOT_ENC_IMAGES, docs/boot.md §10b). The secondary
// slot may hold an image whose body is AES-128-CTR encrypted, its key
// wrapped in a key-exchange TLV for the device's decrypt key. The
// bootloader decrypts the body while copying it into the primary slot,
// which stays plaintext (its header keeps the ENCRYPTED flag, as MCUboot's
// does); a swap re-encrypts the old primary image on its way into the
// secondary slot, so that a revert decrypts it again. Before the first
// step of a swap both body keys are written into the primary trailer
// (MCUboot's boot_write_enc_keys), so that a resumed swap decrypts and
// encrypts with the same keys though the images' headers and key TLVs have
// moved.

// bodyCipher encrypts or decrypts one image's body while it is copied.
type bodyCipher struct {
	blk        cipher.Block
	start, end uint32 // slot offsets of the body: [ih_hdr_size, ih_hdr_size+ih_img_size)
}

// newBodyCipher returns the cipher for the image with header h and body
// key key, or nil when h is not encrypted or there is no key (MCUboot then
// copies the bytes as they are). The key's length chooses AES-128 or
// AES-256, as MCUboot's compile-time BOOT_ENC_KEY_SIZE does.
func newBodyCipher(key []byte, h *image.Header) (*bodyCipher, error) {
	if h == nil || !h.Flags.Encrypted() || key == nil {
		return nil, nil
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("boot: body key: %w", err)
	}
	start := uint32(h.HdrSize)
	return &bodyCipher{blk: blk, start: start, end: start + h.ImgSize}, nil
}

// apply XORs b, the bytes at slot offset off, with the key stream where
// they overlap the body: the counter block is the body offset / 16,
// big-endian, as boot_enc_decrypt sets it; header and TLVs are left alone.
func (c *bodyCipher) apply(off uint32, b []byte) {
	if c == nil {
		return
	}
	lo, hi := max(off, c.start), min(off+uint32(len(b)), c.end)
	if lo >= hi {
		return
	}
	pos := lo - c.start
	var ctr [aes.BlockSize]byte
	binary.BigEndian.PutUint32(ctr[12:], pos/aes.BlockSize)
	s := cipher.NewCTR(c.blk, ctr[:])
	if skip := pos % aes.BlockSize; skip > 0 {
		var z [aes.BlockSize]byte
		s.XORKeyStream(z[:skip], z[:skip])
	}
	part := b[lo-off : hi-off]
	s.XORKeyStream(part, part)
}

// bodyKey is the body key of the encrypted image at the start of data, or
// nil when it is not encrypted, is not of the key size the flash map
// sets, or its key cannot be unwrapped with priv (MCUboot's boot_enc_load
// failing: the bytes are then copied as they are).
func (l *layout) bodyKey(data []byte, priv any) []byte {
	img, err := image.Parse(data)
	if err != nil || !img.Header.Flags.Encrypted() || priv == nil {
		return nil
	}
	k, err := l.unwrap(img, priv)
	if err != nil {
		return nil
	}
	return k
}

// unwrap is img's body key when the image is encrypted with the AES key
// size the flash map sets (MCUboot: a key TLV of another size is refused,
// BOOT_ENC_TLV_SIZE being fixed at build time).
func (l *layout) unwrap(img *image.Image, priv any) ([]byte, error) {
	aes256 := img.Header.Flags&image.FlagEncryptedAES256 != 0
	if aes256 != l.aes256 {
		return nil, fmt.Errorf("%w: the image is encrypted with AES-%d, the flash map sets encrypted_key_bits %d", ErrEncryptedImage, map[bool]int{false: 128, true: 256}[aes256], map[bool]int{false: 128, true: 256}[l.aes256])
	}
	k, err := img.BodyKey(priv)
	if err != nil {
		return nil, err
	}
	if len(k) != l.encKeySize() {
		return nil, fmt.Errorf("%w: body key of %d bytes", ErrEncryptedImage, len(k))
	}
	return k, nil
}

// writeEncKeys writes both key fields of the primary trailer: key k, or
// 0xff bytes for none (as MCUboot memsets an absent key).
func (io *slotIO) writeEncKeys(pri *slot, keys [2][]byte) error {
	for k, key := range keys {
		f := make([]byte, io.l.encKeyFieldSize())
		for j := range f {
			f[j] = 0xff
		}
		copy(f, key)
		if err := io.writeField(pri, io.l.encKeyOff(pri.size, k), f); err != nil {
			return err
		}
	}
	return nil
}

// readEncKey reads key field k of the primary trailer; all 0xff is none.
func (io *slotIO) readEncKey(pri *slot, k int) ([]byte, error) {
	b, err := io.read(pri, io.l.encKeyOff(pri.size, k), io.l.encKeySize())
	if err != nil || allEqual(b, 0xff) {
		return nil, err
	}
	return b, nil
}

// swapHeaders reads the headers of the image that was in the primary slot
// (old) and the one coming from the secondary (new) where a swap-move that
// has completed done of its 3n steps left them: the old header is moved up
// to primary sector 1 by the last move and on to secondary sector 0 by the
// first swap's second step; the new header goes to primary sector 0 in the
// first swap step. A step cut part-way has erased only its destination, so
// its source still holds the header. An erased or unparsable header gives nil.
func (io *slotIO) swapHeaders(im imageLayout, n, done int) (old, new *image.Header, err error) {
	at := func(s *slot, sector int) (*image.Header, error) {
		off := s.sectors[sector].Off - s.off
		b, err := io.read(s, off, image.HeaderSize)
		if err != nil {
			return nil, err
		}
		h, perr := image.ParseHeader(b)
		if perr != nil {
			return nil, nil
		}
		return &h, nil
	}
	switch {
	case done < n:
		old, err = at(im.primary, 0)
	case done <= n+1:
		old, err = at(im.primary, 1)
	default:
		old, err = at(im.secondary, 0)
	}
	if err != nil {
		return nil, nil, err
	}
	if done <= n {
		new, err = at(im.secondary, 0)
	} else {
		new, err = at(im.primary, 0)
	}
	return old, new, err
}

// swapCiphers returns the ciphers of a swap-move that has completed done
// steps: enc encrypts the old primary image into the secondary slot (key
// field 0), dec decrypts the secondary's image into the primary (field 1).
func (io *slotIO) swapCiphers(im imageLayout, n, done int) (enc, dec *bodyCipher, err error) {
	if !io.l.encrypted {
		return nil, nil, nil
	}
	old, new, err := io.swapHeaders(im, n, done)
	if err != nil {
		return nil, nil, err
	}
	k0, err := io.readEncKey(im.primary, 0)
	if err != nil {
		return nil, nil, err
	}
	k1, err := io.readEncKey(im.primary, 1)
	if err != nil {
		return nil, nil, err
	}
	if enc, err = newBodyCipher(k0, old); err != nil {
		return nil, nil, err
	}
	dec, err = newBodyCipher(k1, new)
	return enc, dec, err
}
