package boot

import (
	"errors"
	"fmt"

	"rampart/image"
)

// Errors explaining why an image was not accepted. Each is wrapped with the
// detail; errors.Is works on all of them.
var (
	ErrInvalidImage       = errors.New("boot: invalid image")
	ErrTooLarge           = errors.New("boot: image larger than its slot allows")
	ErrUnsigned           = errors.New("boot: image not signed by a provisioned key")
	ErrNoSecurityCounter  = errors.New("boot: image has no security counter")
	ErrRollback           = errors.New("boot: security counter below the device's")
	ErrDowngrade          = errors.New("boot: version lower than the running image's")
	ErrDependency         = errors.New("boot: dependency not satisfied")
	ErrNoBootableImage    = errors.New("boot: no bootable image")
	ErrEncryptedImage     = errors.New("boot: encrypted image cannot be decrypted")
	ErrUnsupportedRequest = errors.New("boot: request not possible")
)

// validImage is an image that passed validation, with what the bootloader
// needs of it.
type validImage struct {
	img      *image.Image
	size     int // header to the end of the TLVs
	hash     image.Hash
	digest   []byte
	signerID []byte
	keyIndex int // the provisioned key that signed it
	rotateTo int // the key its rotation TLV names, or -1
	secCnt   uint32
	deps     []image.Dependency
	depsErr  error // a DEPENDENCY TLV that is not 12 bytes long
}

func (v *validImage) version() image.Version { return v.img.Header.Ver }

// validate parses and checks the image at the start of data: structure, size
// against maxSize, hash, a signature by one of the provisioned keys, and a
// protected security counter not below image index's OTP counter. An
// encrypted image is decrypted to check its hash in the secondary slot
// (secondary true) and taken as already decrypted in the primary slot, as
// MCUboot's boot_image_check does (MUST_DECRYPT); without encrypted_images
// in the flash map, or without a decrypt key, it is refused.
func (b *Bootloader) validate(data []byte, index, maxSize int, secondary bool) (*validImage, error) {
	img, err := image.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	if img.Size() > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d fit beside the trailer", ErrTooLarge, img.Size(), maxSize)
	}
	opts := image.VerifyOptions{Keys: b.keys, SkipDependencies: true}
	if img.Header.Flags.Encrypted() {
		switch {
		case !b.l.encrypted:
			return nil, fmt.Errorf("%w: the flash map does not set encrypted_images", ErrEncryptedImage)
		case !secondary:
			opts.BodyInClear = true
		case b.decryptKey == nil:
			return nil, fmt.Errorf("%w: no decrypt key is provisioned", ErrEncryptedImage)
		case (img.Header.Flags&image.FlagEncryptedAES256 != 0) != b.l.aes256:
			_, err := b.l.unwrap(img, b.decryptKey)
			return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
		default:
			opts.DecryptKey = b.decryptKey
		}
	}
	if len(b.keys) == 0 {
		return nil, fmt.Errorf("%w: no keys are provisioned", ErrUnsigned)
	}
	v, err := img.Verify(opts)
	if errors.Is(err, image.ErrKeyNotFound) || errors.Is(err, image.ErrBadSignature) {
		return nil, fmt.Errorf("%w: %w", ErrUnsigned, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	if !v.Signed || v.KeyIndex < 0 || v.KeyIndex >= len(b.keys) {
		return nil, ErrUnsigned
	}
	if err := b.checkSigner(v.KeyIndex); err != nil {
		return nil, err
	}
	rotateTo, err := b.rotateTarget(img, v.KeyIndex)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	signer, err := image.KeyHash(b.keys[v.KeyIndex], v.Hash)
	if err != nil {
		return nil, fmt.Errorf("%w: signer id: %w", ErrInvalidImage, err)
	}
	sc, ok, err := img.SecurityCounter()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	if !ok {
		return nil, ErrNoSecurityCounter
	}
	if min := b.counters.Get(index); sc < min {
		return nil, fmt.Errorf("%w: image has %d, image %d's counter is %d", ErrRollback, sc, index, min)
	}
	// A malformed DEPENDENCY TLV does not make the image invalid: as
	// MCUboot, it fails the dependency check instead (with two images).
	deps, depsErr := protectedDeps(img)
	return &validImage{img: img, size: img.Size(), hash: v.Hash, digest: v.Digest, signerID: signer, keyIndex: v.KeyIndex, rotateTo: rotateTo, secCnt: sc, deps: deps, depsErr: depsErr}, nil
}
