package trust

import (
	"errors"
	"fmt"

	"rampart/image"
)

// ErrRetiredKey: the image is signed by a release key the fleet retired
// (docs/ownership-and-rotation.md, section 9).
var ErrRetiredKey = errors.New("trust: release signed by a retired release key")

// CheckNotRetired refuses an image whose signature verifies with one of
// the retired release keys: after a release key rotation, nothing the old
// key signs is registered again, even if the key is still configured as
// trusted by mistake. An image no retired key verifies passes (it is then
// checked against the trusted keys as always).
func CheckNotRetired(data []byte, retired []any) error {
	if len(retired) == 0 {
		return nil
	}
	_, v, err := image.Verify(data, retired...)
	if err != nil || !v.Signed || v.KeyIndex < 0 {
		return nil
	}
	h, herr := image.KeyHash(retired[v.KeyIndex], v.Hash)
	if herr != nil {
		return fmt.Errorf("%w (key %d)", ErrRetiredKey, v.KeyIndex)
	}
	return fmt.Errorf("%w (key hash %x)", ErrRetiredKey, h)
}
